"""Signed-in users read from the cache: a request or a WebSocket handshake of a known
session makes no database query (with ``cached_db`` sessions, none at all).

``CachedModelBackend`` is Django's ``ModelBackend`` whose ``get_user`` (what every
request and handshake calls for the session's user) keeps the row in the cache. Every
save or delete of a user drops it, in whatever process makes the change (a password
change, a deactivation in the admin, ``manage.py changepassword``), so the session
check that follows (the password's hash, ``is_active``) sees the new row at once. A
bulk ``update()`` sends no signal: ``USER_CACHE_SECONDS`` bounds how long such a change
can go unseen.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

USER_CACHE_SECONDS = 300


def _key(user_id: Any) -> str:
    return f"auth-user:{user_id}"


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        user: User | None = cache.get(_key(user_id))
        if user is None:
            user = super().get_user(user_id)
            if user is None:
                return None
            cache.set(_key(user_id), user, USER_CACHE_SECONDS)
        return user if self.user_can_authenticate(user) else None


def forget_user(sender: Any, instance: User, **kwargs: Any) -> None:
    cache.delete(_key(instance.pk))


def connect_signals() -> None:
    """Drop a user's cached row whenever it changes (called once, from the app's ready)."""
    user_model = get_user_model()
    post_save.connect(forget_user, sender=user_model, dispatch_uid="forget-cached-user")
    post_delete.connect(forget_user, sender=user_model, dispatch_uid="forget-cached-user")
