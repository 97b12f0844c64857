"""Webhook signatures (docs/security.md, "Webhook deliveries cannot be replayed").

Two signatures go with every delivery, both HMAC-SHA256 with the webhook's secret:

- ``X-Reportsite-Signature: sha256=<hex>`` of the raw body: the original contract,
  kept for the receivers that check it.
- ``X-Reportsite-Signature-V2: t=<unix seconds>,v1=<hex>`` of
  ``"<delivery id>.<t>.<raw body>"``, with ``X-Reportsite-Timestamp: <t>``: the
  delivery id and the time of this attempt are inside what is signed, so a captured
  request replayed later than the tolerance, or under another id, does not verify.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Reportsite-Signature"
SIGNATURE_V2_HEADER = "X-Reportsite-Signature-V2"
TIMESTAMP_HEADER = "X-Reportsite-Timestamp"
DELIVERY_HEADER = "X-Reportsite-Delivery"
EVENT_HEADER = "X-Reportsite-Event"
# How far a receiver lets the signed time differ from its clock (either way).
TOLERANCE_SECONDS = 300


def sign(body: bytes, secret: str) -> str:
    """The ``X-Reportsite-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """Whether ``signature`` is ``body``'s (what a receiver does; constant-time)."""
    return hmac.compare_digest(sign(body, secret), signature)


def _mac_v2(body: bytes, secret: str, delivery_id: str, timestamp: int) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_v2(body: bytes, secret: str, *, delivery_id: str, timestamp: int) -> str:
    """The ``X-Reportsite-Signature-V2`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={_mac_v2(body, secret, delivery_id, timestamp)}"


def verify_v2(
    body: bytes, secret: str, *, delivery_id: str, signature: str,
    now: float | None = None, tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """Whether ``signature`` signs this body under this delivery id at a time within
    ``tolerance`` seconds of ``now`` (what a receiver does)."""
    fields = dict(part.split("=", 1) for part in signature.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _mac_v2(body, secret, delivery_id, timestamp)
    return hmac.compare_digest(expected, fields.get("v1", ""))


def signed_headers(body: bytes, secret: str, *, delivery_id: str, event: str) -> dict[str, str]:
    """Every signing header of one attempt, timed now."""
    timestamp = int(time.time())
    return {
        SIGNATURE_HEADER: sign(body, secret),
        SIGNATURE_V2_HEADER: sign_v2(body, secret, delivery_id=delivery_id, timestamp=timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }
