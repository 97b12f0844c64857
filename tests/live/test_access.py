"""Who may watch a stream: decided once per stream per process, and the session read
from the cache, not per handshake from the database; the user too, when the cache is
one every process shares."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from reports.live import access
from tests.conftest import require_service, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture
def owner_queries(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Every owner lookup this process makes (the real query, counted)."""
    made: list[list[Any]] = []
    read = access._read_owners

    async def counted(pks: list[Any]) -> Any:
        made.append(list(pks))
        return await read(pks)

    monkeypatch.setattr(access, "_read_owners", counted)
    monkeypatch.setattr(access, "_owners", type(access._owners)())
    return made


async def test_sockets_asking_at_once_share_one_lookup(
    make_stream: Any, user: User, other_user: User, owner_queries: list[list[Any]]
) -> None:
    stream = await database_sync_to_async(make_stream)()
    ids = [str(stream.pk)]

    # Ten watchers of one stream reconnecting together, then one more later.
    answers = await asyncio.gather(*(access.visible_ids(user, ids) for _ in range(10)))
    later = await access.visible_ids(user, ids)

    assert answers == [ids] * 10 and later == ids
    assert owner_queries == [[stream.pk]]
    # The rule is still the owner's: another user sees nothing (and costs no query).
    assert await access.visible_ids(other_user, ids) == []
    assert len(owner_queries) == 1


async def test_a_stream_that_does_not_exist_is_visible_to_nobody(
    user: User, owner_queries: list[list[Any]]
) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert await asyncio.gather(access.visible_ids(user, [missing]),
                                access.visible_ids(user, [missing])) == [[], []]
    assert len(owner_queries) == 1
    assert await access.visible_ids(user, ["not-a-uuid"]) == []


async def test_a_handshake_reads_the_session_from_the_cache(
    asgi_app: Any, make_stream: Any, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)  # a login: cached
    read_from_db: list[str] = []
    real = SessionStore._get_session_from_db  # type: ignore[attr-defined]

    def counted(self: SessionStore) -> Any:
        read_from_db.append(self.session_key or "")
        return real(self)

    monkeypatch.setattr(SessionStore, "_get_session_from_db", counted)
    for _ in range(3):
        communicator = WebsocketCommunicator(
            asgi_app, f"/ws/streams/{stream.pk}/", headers=[ORIGIN, cookie]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
        await communicator.disconnect()

    assert read_from_db == []  # no session query per handshake


@pytest.fixture
def user_queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement, in any thread, that reads the user table."""
    from django.db.backends.utils import CursorWrapper

    made: list[str] = []
    real = CursorWrapper.execute

    def counted(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        if "auth_user" in sql:
            made.append(sql)
        return real(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", counted)
    return made


async def handshake(asgi_app: Any, stream_id: Any, cookie: tuple[bytes, bytes]) -> bool:
    communicator = WebsocketCommunicator(
        asgi_app, f"/ws/streams/{stream_id}/", headers=[ORIGIN, cookie]
    )
    connected, _ = await communicator.connect(timeout=5)
    if connected:
        assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.disconnect()
    return connected


@pytest.fixture
def shared_cache(settings: Any) -> Iterator[None]:
    """Django's cache in Redis, as in distributed mode: the one every process shares."""
    import redis

    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"test-users-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/13", "KEY_PREFIX": prefix,
    }}
    settings.ACCESS_RECHECK_SECONDS = 600  # no socket recheck reads the table meanwhile
    yield
    client = redis.Redis.from_url("redis://127.0.0.1:6379/13")
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


async def test_a_handshake_reads_the_user_from_the_cache(
    asgi_app: Any, make_stream: Any, user: User, user_queries: list[str], shared_cache: None
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    user_queries.clear()
    for _ in range(3):
        assert await handshake(asgi_app, stream.pk, cookie)
    assert len(user_queries) == 1  # the first handshake's; the others read the cache


async def test_a_cache_of_one_process_keeps_no_users(
    asgi_app: Any, make_stream: Any, user: User, user_queries: list[str], settings: Any
) -> None:
    """The embedded default's LocMemCache: another process (a shell next to the server)
    could not drop an entry there, so the user is read on every handshake (issue 32)."""
    assert settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    settings.ACCESS_RECHECK_SECONDS = 600
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    user_queries.clear()
    for _ in range(2):
        assert await handshake(asgi_app, stream.pk, cookie)
    assert len(user_queries) == 2


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("change", ["password", "deactivated", "deleted"])
async def test_a_changed_user_is_read_again(
    asgi_app: Any, make_stream: Any, user: User, change: str, shared: bool,
    request: pytest.FixtureRequest,
) -> None:
    if shared:
        request.getfixturevalue("shared_cache")
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    assert await handshake(asgi_app, stream.pk, cookie)  # now cached

    def make_change() -> None:
        if change == "password":  # another process, e.g. manage.py changepassword
            user.set_password("a new secret phrase")
            user.save()
        elif change == "deactivated":
            user.is_active = False
            user.save()
        else:
            user.delete()

    await database_sync_to_async(make_change)()
    # The old session no longer opens a socket, at once.
    assert not await handshake(asgi_app, stream.pk, cookie)
