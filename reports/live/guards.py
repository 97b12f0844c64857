"""Open sockets and event streams end when their access does (docs/security.md,
"Revoking access is immediate").

Each WebSocket and SSE response holds a ``Guard``: whose it is and what let it in (a
session, with the password hash the session was signed in with, or an API token).
This process's ``Warden`` (one per event loop, as the hub) keeps one channel of the
channel layer in the group of every user with an open guard. A change of the user's
access announced by any process (reports/events/revocations.py) has that user's guards
checked at once; every ``ACCESS_RECHECK_SECONDS`` all guards are checked as well, in
one query however many there are. That catches what nobody announces: a change made by
another process in embedded mode (the in-memory layer reaches no other process), a raw
SQL update, a token that expired. A guard found invalid is revoked: its socket closes
with 4401, its event stream ends.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.contrib.auth import HASH_SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from reports.domain.config import config
from reports.domain.events import ACCESS_CHANGED, user_group
from reports.events.publisher import publisher
from reports.live.auth import API_TOKEN_ID
from reports.models import ApiToken

logger = logging.getLogger(__name__)

# channels_redis forgets a group member after a day: memberships are renewed hourly.
GROUP_RENEW_SECONDS = 3600.0


def _nothing() -> None:
    pass


@dataclass(eq=False)
class Guard:
    """What let one socket (or event stream) in; ``on_revoked`` is called once, on the
    event loop, when that no longer holds."""

    user_id: Any
    on_revoked: Callable[[], None] = _nothing
    token_id: int | None = None
    session_hash: str = ""
    revoked: bool = False

    def revoke(self) -> None:
        if not self.revoked:
            self.revoked = True
            self.on_revoked()


def scope_guard(scope: dict[str, Any], on_revoked: Callable[[], None]) -> Guard:
    """The guard of a WebSocket handshake that passed the auth check (its session, if
    any, is loaded by then)."""
    user, token_id = scope["user"], scope.get(API_TOKEN_ID)
    if token_id is not None:
        return Guard(user.pk, on_revoked, token_id=token_id)
    session = scope["session"]
    return Guard(user.pk, on_revoked, session_hash=str(session.get(HASH_SESSION_KEY, "")))


def _session_holds(guard: Guard, user: Any) -> bool:
    # As Django's own session check: signed in with the user's current password. (A
    # password change from the session itself gives it a new key: its sockets close
    # too, and the page reloads into the new session: static/js/live.js.)
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(guard.session_hash, h) for h in hashes)


def invalid_guards(guards: list[Guard]) -> list[Guard]:
    """The guards whose user is gone or inactive, whose token is revoked or expired, or
    whose session was signed in with a password that has changed since."""
    users = {str(u.pk): u for u in get_user_model().objects.filter(
        pk__in={g.user_id for g in guards})}
    token_ids = {g.token_id for g in guards if g.token_id is not None}
    tokens = set(ApiToken.objects.usable().filter(pk__in=token_ids).values_list("pk", flat=True))
    invalid = []
    for guard in guards:
        user = users.get(str(guard.user_id))
        if user is None or not getattr(user, "is_active", True):
            invalid.append(guard)
        elif guard.token_id is not None:
            if guard.token_id not in tokens:
                invalid.append(guard)
        elif not _session_holds(guard, user):
            invalid.append(guard)
    return invalid


class Warden:
    """This process's watch over the users with open sockets (one per event loop)."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.guards: dict[str, dict[Guard, None]] = {}
        self.joined: dict[str, float] = {}  # user id -> when its group was joined
        self.channel = ""
        self._started: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    async def enter(self, guard: Guard) -> None:
        """Watch ``guard`` until ``leave``: from return on, announced changes reach it."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)
        key = str(guard.user_id)
        new = key not in self.guards
        self.guards.setdefault(key, {})[guard] = None
        if new:
            self.joined[key] = asyncio.get_running_loop().time()
            await self.layer.group_add(user_group(key), self.channel)

    def leave(self, guard: Guard) -> None:
        """Stop watching ``guard``; the last guard of a user leaves the user's group."""
        key = str(guard.user_id)
        watched = self.guards.get(key)
        if watched is None or guard not in watched:
            return
        del watched[guard]
        if watched:
            return
        del self.guards[key]
        self.joined.pop(key, None)
        self._spawn(self.layer.group_discard(user_group(key), self.channel))

    async def confirm(self, guard: Guard) -> bool:
        """Whether ``guard`` still holds, checked now (it is revoked if not)."""
        await self.check([guard])
        return not guard.revoked

    async def check(self, guards: list[Guard]) -> None:
        """Revoke those of ``guards`` that no longer hold."""
        for guard in await database_sync_to_async(invalid_guards)(guards):
            guard.revoke()

    async def _start(self) -> None:
        self.channel = await self.layer.new_channel()
        self._spawn(self._listen())
        self._spawn(self._recheck())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self) -> None:
        """Check a user's guards as soon as any process announces a change."""
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                logger.warning("Receiving access changes failed", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if isinstance(message, dict) and message.get("type") == ACCESS_CHANGED:
                guards = list(self.guards.get(str(message.get("user_id")), ()))
                if guards:
                    self._spawn(self._check_logged(guards))

    async def _recheck(self) -> None:
        """Check every guard now and then: what no announcement carried is seen too."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(config().access_recheck_seconds)
            guards = [g for watched in self.guards.values() for g in watched]
            if guards:
                await self._check_logged(guards)
            for key, joined in list(self.joined.items()):
                if loop.time() - joined > GROUP_RENEW_SECONDS:
                    self.joined[key] = loop.time()
                    try:
                        await self.layer.group_add(user_group(key), self.channel)
                    except Exception:  # the recheck still covers this user
                        logger.warning("Could not renew %s's group", key, exc_info=True)

    async def _check_logged(self, guards: list[Guard]) -> None:
        try:
            await self.check(guards)
        except Exception:  # the next round tries again
            logger.warning("Checking %d socket(s)' access failed", len(guards), exc_info=True)


_wardens: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Warden] = (
    weakref.WeakKeyDictionary()
)


def warden() -> Warden:
    """The warden of the running loop (and so of this web process's server)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is not configured"
    found = _wardens.get(loop)
    if found is None or found.layer is not layer:
        found = _wardens[loop] = Warden(layer)
    # With the in-memory layer, announcements must be sent on the loop we listen on.
    publisher.bind_server_loop(loop)
    return found
