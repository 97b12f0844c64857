"""Bearer tokens for the JSON API."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

TOKEN_PREFIX = "rs_"


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, so a leaked table leaks no tokens."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def issue(self, *, user: AbstractBaseUser, name: str = "", days: float | None = None) -> str:
        """Create a token for ``user``, valid for ``days`` (None: until revoked), and
        return it (it cannot be recovered later)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = timezone.now() + timedelta(days=days) if days else None
        self.create(user=user, name=name, prefix=token[:10], key_hash=token_hash(token),
                    expires_at=expires_at)
        return token

    def of(self, user: AbstractBaseUser | AnonymousUser) -> ApiTokenQuerySet:
        """``user``'s own tokens (none for an anonymous user)."""
        return self.filter(user_id=user.pk) if user.pk is not None else self.none()

    def usable(self) -> ApiTokenQuerySet:
        """Tokens that open the API now: not expired, of an active user."""
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()), user__is_active=True
        )

    def token_for(self, token: str) -> ApiToken | None:
        """The usable token ``token`` is (noting when it was used), else None."""
        found = self.usable().select_related("user").filter(key_hash=token_hash(token)).first()
        if found is not None:
            self.filter(pk=found.pk).update(last_used_at=timezone.now())
        return found

    def user_for(self, token: str) -> AbstractBaseUser | None:
        """The active user ``token`` belongs to, if it is usable, else None."""
        found = self.token_for(token)
        return found.user if found is not None else None


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
    expires_at = models.DateTimeField(
        null=True, blank=True,
        help_text="From then on the token is refused (401). Empty: until it is revoked.",
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"


def create_api_token(*, user: AbstractBaseUser, name: str = "", days: float | None = None) -> str:
    """Create a token for ``user`` (valid for ``days``, or until revoked) and return it
    (it cannot be recovered later)."""
    return ApiToken.objects.issue(user=user, name=name, days=days)


def revoke_api_token(*, user: AbstractBaseUser | AnonymousUser, token_id: object) -> bool:
    """Delete one of ``user``'s tokens; False when they have no such token."""
    try:
        pk = int(str(token_id))
    except ValueError:
        return False
    deleted, _ = ApiToken.objects.of(user).filter(pk=pk).delete()
    return bool(deleted)
