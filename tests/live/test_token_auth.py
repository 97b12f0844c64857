"""API tokens on the JSON WebSocket: offered as the subprotocols ``bearer, <token>``."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from reports.models import create_api_token
from tests.conftest import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")


async def handshake(
    app: Any, path: str, subprotocols: list[str], *headers: tuple[bytes, bytes]
) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(
        app, path, headers=[ORIGIN, *headers], subprotocols=subprotocols
    )
    connected, detail = await communicator.connect(timeout=5)
    return communicator, connected, detail


async def test_a_token_alone_opens_the_owners_stream_and_bearer_is_chosen(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    token = await database_sync_to_async(create_api_token)(user=user)
    communicator, connected, subprotocol = await handshake(
        asgi_app, f"/ws/streams/{stream.pk}/", ["bearer", token]
    )
    assert connected
    assert subprotocol == "bearer"
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert snapshot["stream"]["stream_id"] == str(stream.pk)
    await communicator.disconnect()


async def test_a_wrong_token_is_refused_even_with_a_valid_session(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, code = await handshake(
        asgi_app, f"/ws/streams/{stream.pk}/", ["bearer", "rs_not-a-token"], cookie
    )
    assert not connected
    assert code == 4403
    await communicator.disconnect()


async def test_a_token_does_not_open_someone_elses_stream(
    asgi_app: Any, make_stream: Any, other_user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    token = await database_sync_to_async(create_api_token)(user=other_user)
    communicator, connected, code = await handshake(
        asgi_app, f"/ws/streams/{stream.pk}/", ["bearer", token]
    )
    assert not connected
    assert code == 4403
    await communicator.disconnect()


async def test_bearer_without_a_token_is_refused(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, code = await handshake(
        asgi_app, f"/ws/streams/{stream.pk}/", ["bearer"], cookie
    )
    assert not connected
    assert code == 4403
    await communicator.disconnect()
