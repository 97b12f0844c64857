"""A WebSocket handshake to a path no consumer serves is refused with a 4xx, never a
500 with a traceback (issue 32, finding 8): in the ASGI app and on a real Daphne."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from devtools.servers import embedded_server
from tests.conftest import session_cookie

ORIGIN = (b"origin", b"http://localhost")
NOT_FOUND = 4404  # docs/security.md, "WebSocket close codes"
UNROUTED = ["/ws/nope/", "/ws/", "/", "/ws/streams/abc", "/api/streams/", "/ws/live",
            "/ws/streams/", "/ws/streams/a/b/", "/%ff/"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", UNROUTED)
async def test_an_unknown_path_is_closed_with_4404(
    asgi_app: Any, user: User, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = await database_sync_to_async(session_cookie)(user)
    for headers in ([ORIGIN], [ORIGIN, cookie]):  # anonymous, and signed in
        communicator = WebsocketCommunicator(asgi_app, path, headers=headers)
        connected, code = await communicator.connect(timeout=5)
        assert (connected, code) == (False, NOT_FOUND)
        await communicator.wait()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.subprocess
def test_a_real_server_answers_unknown_paths_403_without_a_traceback() -> None:
    async def handshake(url: str) -> int:
        try:
            async with ws_connect(url, origin=Origin("http://127.0.0.1"), open_timeout=15):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)

    with embedded_server() as server:
        base = server.url.replace("http://", "ws://")
        statuses = asyncio.run(_all(handshake, [base + p for p in UNROUTED]))
        log = server.log()
    # Daphne turns a close before the accept into an HTTP 403 refusal of the handshake.
    assert statuses == [403] * len(UNROUTED), log[-3000:]
    assert "Traceback" not in log and "No route found" not in log, log[-3000:]


async def _all(handshake: Any, urls: list[str]) -> list[int]:
    return [await handshake(url) for url in urls]
