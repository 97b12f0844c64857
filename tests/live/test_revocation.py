"""Revoking access ends open sockets and event streams at once (issue 32, finding 3): a
password change, a deactivation, a deletion or a revoked token closes the user's
WebSockets with 4401, ends their SSE responses and refuses new subscriptions; a change
that leaves a socket's access as it was does not."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from reports.models import ApiToken, create_api_token
from tests.conftest import session_cookie
from tests.live.test_sse import open_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")
UNAUTHORIZED = 4401  # docs/security.md, "WebSocket close codes"


@pytest.fixture(autouse=True)
def _slow_recheck(settings: Any) -> None:
    """Only an announcement may close a socket in time, unless a test says otherwise."""
    settings.ACCESS_RECHECK_SECONDS = 600


async def open_socket(app: Any, path: str, *headers: tuple[bytes, bytes],
                      subprotocols: list[str] | None = None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(app, path, headers=[ORIGIN, *headers],
                                         subprotocols=subprotocols)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator, timeout: float = 5) -> int:
    """Read until the server closes the socket; the close code."""
    async with asyncio.timeout(timeout):
        while True:
            message = await communicator.receive_output(timeout)
            if message["type"] == "websocket.close":
                return int(message.get("code", 1000))


def change(user: User, how: str) -> None:
    """What an operator, the admin or another process does to a user."""
    if how == "password":
        user.set_password("a brand new passphrase")
        user.save()
    elif how == "deactivated":
        user.is_active = False
        user.save()
    elif how == "deleted":
        user.delete()
    elif how == "tokens revoked":
        ApiToken.objects.filter(user=user).delete()


@pytest.mark.parametrize("how", ["password", "deactivated", "deleted"])
async def test_a_sessions_sockets_close_with_4401(
    asgi_app: Any, make_stream: Any, user: User, how: str
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    json_socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/", cookie)
    assert (await json_socket.receive_json_from(timeout=5))["type"] == "snapshot"
    page_socket = await open_socket(asgi_app, f"/ws/live/?streams={stream.pk}", cookie)
    await page_socket.receive_from(timeout=5)  # the card

    await database_sync_to_async(change)(user, how)
    error = await json_socket.receive_json_from(timeout=5)
    assert (error["type"], error["error"]) == ("error", "unauthorized")
    assert await closed_with(json_socket) == UNAUTHORIZED
    assert await closed_with(page_socket) == UNAUTHORIZED


@pytest.mark.parametrize("how", ["tokens revoked", "deactivated"])
async def test_a_tokens_socket_closes_with_4401(
    asgi_app: Any, make_stream: Any, user: User, how: str
) -> None:
    stream = await database_sync_to_async(make_stream)()
    token = await database_sync_to_async(create_api_token)(user=user)
    socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/",
                               subprotocols=["bearer", token])
    assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
    await database_sync_to_async(change)(user, how)
    assert (await socket.receive_json_from(timeout=5))["error"] == "unauthorized"
    assert await closed_with(socket) == UNAUTHORIZED


async def test_another_users_change_closes_nothing(
    asgi_app: Any, make_stream: Any, user: User, other_user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/", cookie)
    await socket.receive_json_from(timeout=5)
    await database_sync_to_async(change)(other_user, "password")
    await database_sync_to_async(change)(user, "tokens revoked")  # it has none: no matter
    assert await socket.receive_nothing(timeout=1)
    await socket.disconnect()


@pytest.mark.parametrize("by", ["session", "token"])
async def test_an_event_stream_ends_when_access_is_revoked(
    make_stream: Any, user: User, by: str
) -> None:
    stream = await database_sync_to_async(make_stream)()
    if by == "session":
        header = await database_sync_to_async(session_cookie)(user)
        how = "password"
    else:
        token = await database_sync_to_async(create_api_token)(user=user)
        header = (b"authorization", f"Bearer {token}".encode())
        how = "tokens revoked"
    events = await open_events(f"/api/streams/{stream.pk}/events/", header)
    assert (await events.next_event())[1]["type"] == "snapshot"
    await database_sync_to_async(change)(user, how)
    event_id, last = await events.next_event(timeout=5)
    assert event_id is None and (last["type"], last["error"]) == ("error", "unauthorized")
    message = await events.communicator.receive_output(5)
    while message.get("more_body"):  # what is left: the end of the response
        message = await events.communicator.receive_output(5)
    assert message["type"] == "http.response.body" and not message.get("more_body")


async def test_a_change_nobody_announces_is_found_by_the_recheck(
    asgi_app: Any, make_stream: Any, user: User, settings: Any
) -> None:
    """A raw UPDATE (or another process in embedded mode, whose in-memory layer reaches
    nobody here) is seen within ACCESS_RECHECK_SECONDS."""
    settings.ACCESS_RECHECK_SECONDS = 0.2
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/", cookie)
    await socket.receive_json_from(timeout=5)
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(is_active=False)
    assert await closed_with(socket) == UNAUTHORIZED


async def test_a_subscription_after_an_unannounced_change_is_refused(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    """Issue 32: /ws/live/ accepted a subscription to a stream made after the change."""
    first = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    page = await open_socket(asgi_app, f"/ws/live/?streams={first.pk}", cookie)
    await page.receive_from(timeout=5)
    await database_sync_to_async(User.objects.filter(pk=user.pk).update)(password="!")
    later = await database_sync_to_async(make_stream)()
    await page.send_json_to({"subscribe": str(later.pk)})
    assert await closed_with(page) == UNAUTHORIZED


async def test_a_change_that_leaves_access_as_it_was_closes_nothing(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    """Renaming a user is announced and checked; the socket's access still holds."""
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/", cookie)
    await socket.receive_json_from(timeout=5)

    def rename() -> None:
        user.first_name = "Alice"
        user.save()
        Client().force_login(user)  # a login elsewhere: only last_login is saved

    await database_sync_to_async(rename)()
    assert await socket.receive_nothing(timeout=1)
    await socket.send_json_to({"type": "snapshot"})
    assert json.loads(await socket.receive_from(timeout=5))["type"] == "snapshot"
    await socket.disconnect()
