"""The cards page's one socket: several starmaps live at once, and only the owner's."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")
SUMMARY = re.compile(r'id="stream-([0-9a-f-]{36})-summary"[^>]*?data-status="(\w+)"')


async def open_socket(app: Any, user: User, query: str) -> tuple[WebsocketCommunicator, bool, Any]:
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(app, f"/ws/live/{query}", headers=[ORIGIN, cookie])
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def test_another_users_starmap_is_refused_on_the_cards_socket(
    asgi_app: Any, make_starmap: Any, user: User, other_user: User
) -> None:
    mine = await database_sync_to_async(make_starmap)()
    theirs = await database_sync_to_async(make_starmap)(owner=other_user)

    refused, connected, code = await open_socket(
        asgi_app, user, f"?streams={mine.pk},{theirs.pk}"
    )
    assert not connected and code == 4403
    await refused.disconnect()

    communicator, connected, _ = await open_socket(asgi_app, user, f"?streams={mine.pk}")
    assert connected
    assert f'id="stream-{mine.pk}"' in await communicator.receive_from(timeout=10)
    await communicator.send_json_to({"subscribe": str(theirs.pk)})  # ignored
    await communicator.send_json_to({"subscribe": str(mine.pk)})  # already watched: no-op
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_one_socket_carries_two_starmaps_to_completion(
    asgi_app: Any, make_starmap: Any, user: User, fake_provider: FakeProvider
) -> None:
    first = await database_sync_to_async(make_starmap)(title="First")
    second = await database_sync_to_async(make_starmap)(title="Second")
    communicator, connected, _ = await open_socket(asgi_app, user, f"?streams={first.pk}")
    assert connected
    await communicator.receive_from(timeout=10)  # the first card's snapshot
    # A card added later (Generate on the page) joins the same socket.
    await communicator.send_json_to({"subscribe": str(second.pk)})

    runners = [asyncio.ensure_future(asyncio.to_thread(run_stream, s.pk)) for s in (first, second)]
    status: dict[str, str] = {}
    while set(status.values()) != {"completed"} or len(status) < 2:
        html = await communicator.receive_from(timeout=15)
        status.update(dict(SUMMARY.findall(html)))
    assert await asyncio.gather(*runners) == ["completed", "completed"]
    await communicator.disconnect()
    assert status == {str(first.pk): "completed", str(second.pk): "completed"}
