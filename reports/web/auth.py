"""Bearer tokens for API clients (the session, with CSRF, serves the browser)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from reports.models import ApiToken

TOKEN_PREFIX = "rs_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(*, user: Any, name: str = "") -> str:
    """Create a token for ``user`` and return it (it cannot be recovered later)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=token[:10], key_hash=_hash(token))
    return token


class BearerToken(HttpBearer):
    """``Authorization: Bearer rs_...``: no cookie, so no CSRF to check."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = ApiToken.objects.select_related("user").filter(key_hash=_hash(token)).first()
        if found is None or not found.user.is_active:
            return None
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
        return found.user
