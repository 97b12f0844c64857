"""Webhook signatures: ``X-Reportsite-Signature: sha256=<hex HMAC-SHA256 of the raw
body with the webhook's secret>``."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Reportsite-Signature"
DELIVERY_HEADER = "X-Reportsite-Delivery"
EVENT_HEADER = "X-Reportsite-Event"


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """Whether ``signature`` is ``body``'s (what a receiver does; constant-time)."""
    return hmac.compare_digest(sign(body, secret), signature)
