"""Signed-in users read from the cache: a request or a WebSocket handshake of a known
session makes no database query (with ``cached_db`` sessions, none at all).

``CachedModelBackend`` is Django's ``ModelBackend`` whose ``get_user`` (what every
request and handshake calls for the session's user) keeps the row in the cache, when
the cache is one every process shares (Redis, in distributed mode). Every save or
delete of a user drops it there, in whatever process makes the change (a password
change, a deactivation in the admin, ``manage.py changepassword``), so the session
check that follows (the password's hash, ``is_active``) sees the new row at once, in
every process. A cache of one process (the embedded default's ``LocMemCache``) cannot
be told of a change another process makes (a shell next to the server): with one, the
user is read from the database on every request, as Django does. A bulk ``update()``
sends no signal: ``USER_CACHE_SECONDS`` bounds how long such a change can go unseen
(open sockets see it sooner: reports/live/guards.py). docs/security.md.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save

USER_CACHE_SECONDS = 300
# Caches that live inside one process: no other process can drop an entry there.
PROCESS_LOCAL_CACHES = frozenset({
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
})


def cache_is_shared() -> bool:
    """Whether every process reads the same cache (so a change can drop its entry)."""
    return settings.CACHES["default"]["BACKEND"] not in PROCESS_LOCAL_CACHES


def _key(user_id: Any) -> str:
    return f"auth-user:{user_id}"


class CachedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        if not cache_is_shared():
            found: User | None = super().get_user(user_id)
            return found
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
