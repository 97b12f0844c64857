"""Bearer tokens for the JSON API."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

TOKEN_PREFIX = "rs_"


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, so a leaked table leaks no tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def issue(self, *, user: AbstractBaseUser, name: str = "") -> str:
        """Create a token for ``user`` and return it (it cannot be recovered later)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.create(user=user, name=name, prefix=token[:10], key_hash=token_hash(token))
        return token

    def user_for(self, token: str) -> AbstractBaseUser | None:
        """The active user ``token`` belongs to (noting when it was used), else None."""
        found = self.select_related("user").filter(key_hash=token_hash(token)).first()
        if found is None or not found.user.is_active:
            return None
        self.filter(pk=found.pk).update(last_used_at=timezone.now())
        return found.user


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only a hash is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell tokens apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"


def create_api_token(*, user: AbstractBaseUser, name: str = "") -> str:
    """Create a token for ``user`` and return it (it cannot be recovered later)."""
    return ApiToken.objects.issue(user=user, name=name)
