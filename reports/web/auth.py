"""Bearer tokens for API clients (the session, with CSRF, serves the browser)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from ninja.security import HttpBearer

from reports.models import ApiToken, create_api_token

# ``create_api_token`` lives with the model; it is named here for older imports.
__all__ = ["BearerToken", "create_api_token"]


class BearerToken(HttpBearer):
    """``Authorization: Bearer rs_...``: no cookie, so no CSRF to check."""

    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        """The token's active owner, or None (ninja then answers 401)."""
        return ApiToken.objects.user_for(token)
