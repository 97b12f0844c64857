"""One subscription per stream per web process (reports/live/hub.py), fanned out locally.

Real sockets through the project's ASGI app and the in-memory channel layer it runs
with by default; the layer's own group table is what is counted.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from reports.domain.events import CHANNEL_MESSAGE, stream_group
from reports.live.hub import MAILBOX_LIMIT, Mailbox, hub
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import async_wait_for, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")


def members(stream_id: Any) -> set[str]:
    """The channels subscribed to the stream's group, as the layer itself sees them."""
    layer: Any = get_channel_layer()
    return set(layer.groups.get(stream_group(stream_id), {}))


async def open_socket(app: Any, path: str, user: User) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(app, path, headers=[ORIGIN, cookie])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def test_two_sockets_on_one_stream_make_one_subscription_and_both_see_it_end(
    asgi_app: Any, make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    stream = await database_sync_to_async(make_stream)()
    json_socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/", user)
    page_socket = await open_socket(asgi_app, f"/ws/live/?streams={stream.pk}", user)
    assert (await json_socket.receive_json_from(timeout=5))["type"] == "snapshot"
    await page_socket.receive_from(timeout=5)  # the card, as HTML

    assert len(members(stream.pk)) == 1  # one channel for both sockets

    assert await asyncio.to_thread(run_stream, stream.pk) == "completed"
    types = []
    while "stream.completed" not in types:
        types.append((await json_socket.receive_json_from(timeout=10))["type"])
    html = ""
    while "Open report" not in html:
        html = await page_socket.receive_from(timeout=10)

    await json_socket.disconnect()
    assert len(members(stream.pk)) == 1  # the other socket still watches
    await page_socket.disconnect()
    await async_wait_for(lambda: not members(stream.pk))


async def test_a_socket_leaves_its_stream_while_the_database_thread_is_busy(
    asgi_app: Any, make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    # Every socket of a process shares one thread for database work, and each handshake
    # queues its session lookup there: in a reconnect storm that queue is long. A
    # disconnect that waited in it too (channels runs close_old_connections there before
    # every message) was killed by Daphne before it left the hub, so the stream's feed
    # outlived its sockets, and every wait delayed the next handshake further.
    stream = await database_sync_to_async(make_stream)()
    socket = await open_socket(asgi_app, f"/ws/streams/{stream.pk}/", user)
    await socket.receive_json_from(timeout=5)
    assert len(members(stream.pk)) == 1
    release = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(release.wait)())  # the thread is taken
    try:
        await socket.disconnect(timeout=2)
        await async_wait_for(lambda: not members(stream.pk), timeout=5)
    finally:
        release.set()
        await busy


async def test_a_process_with_no_watcher_of_a_stream_receives_none_of_its_messages(
    asgi_app: Any, make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    watched = await database_sync_to_async(make_stream)()
    unwatched = await database_sync_to_async(make_stream)()
    socket = await open_socket(asgi_app, f"/ws/streams/{watched.pk}/", user)
    await socket.receive_json_from(timeout=5)
    (channel,) = members(watched.pk)

    assert await asyncio.to_thread(run_stream, unwatched.pk) == "completed"

    assert not members(unwatched.pk)
    layer: Any = get_channel_layer()
    queued = layer.channels.get(channel)
    assert not queued or queued.empty()  # nothing of the other stream reached it
    await socket.disconnect()


async def test_a_slow_socket_does_not_hold_up_the_others_nor_grow_without_bound(
    make_stream: Any,
) -> None:
    stream = await database_sync_to_async(make_stream)()
    feeds = hub()
    fast, slow = Mailbox(), Mailbox()
    await feeds.join(str(stream.pk), fast)
    await feeds.join(str(stream.pk), slow)  # never read: a client that stopped reading
    layer: Any = get_channel_layer()
    sent = MAILBOX_LIMIT * 4
    got: list[int] = []

    async def read_fast() -> None:
        while len(got) < sent:
            item = await fast.get(timeout=5)
            assert item is not None and item[1] is not None, "the fast socket fell behind"
            got.append(item[1].event["seq"])

    reader = asyncio.ensure_future(read_fast())
    for seq in range(1, sent + 1):
        event = {"type": "stage.delta", "stream_id": str(stream.pk), "seq": seq}
        await layer.group_send(stream_group(stream.pk), {"type": CHANNEL_MESSAGE, "event": event})
        await asyncio.sleep(0)  # let the feed and the fast reader run, as a server would
    await asyncio.wait_for(reader, 10)

    assert got == list(range(1, sent + 1))  # every event, in order, none dropped
    assert len(slow) <= MAILBOX_LIMIT + 1  # bounded, not the whole backlog
    assert slow.dropped >= sent - MAILBOX_LIMIT
    first = await slow.get(timeout=1)
    assert first == (str(stream.pk), None)  # its next read is a resync (a snapshot)

    feeds.leave(str(stream.pk), fast)
    feeds.leave(str(stream.pk), slow)
    await async_wait_for(lambda: not members(stream.pk))
