"""A frame the socket cannot read is answered with an error and the socket stays open;
snapshot requests are bounded per socket."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from reports.live.frames import BadFrame, RequestBudget, decode_frame
from tests.conftest import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
# Frames as Daphne hands them to the application.
UNREADABLE: list[dict[str, Any]] = [
    {"text": "hello"},
    {"text": ""},
    {"bytes": b"\x00\x01binary"},
    {"text": "[" * 100_000},
    {"text": '{"type": ' + "9" * 5000 + "}"},
    {"text": "[1, 2]"},
]
BAD_FRAMES = [*UNREADABLE, {"text": '{"type": "subscribe-all"}'}]


async def open_socket(app: Any, stream: Any, user: User) -> WebsocketCommunicator:
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(app, f"/ws/streams/{stream.pk}/", headers=[ORIGIN, cookie])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    return communicator


@pytest.mark.parametrize("frame", BAD_FRAMES, ids=lambda f: repr(f)[:30])
async def test_a_bad_frame_gets_an_error_and_the_socket_still_works(
    asgi_app: Any, make_stream: Any, user: User, frame: dict[str, Any]
) -> None:
    stream = await database_sync_to_async(make_stream)()
    communicator = await open_socket(asgi_app, stream, user)

    await communicator.send_input({"type": "websocket.receive", **frame})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["error"] == "bad_frame" and error["message"]

    await communicator.send_json_to({"type": "snapshot"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.disconnect()


async def test_snapshot_requests_are_bounded_per_socket(
    asgi_app: Any, make_stream: Any, user: User, settings: Any
) -> None:
    settings.SNAPSHOT_REQUESTS_PER_MINUTE = 3
    stream = await database_sync_to_async(make_stream)()
    communicator = await open_socket(asgi_app, stream, user)
    for _ in range(3):
        await communicator.send_json_to({"type": "snapshot"})
        assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.send_json_to({"type": "snapshot"})
    refused = await communicator.receive_json_from(timeout=5)
    assert refused["error"] == "rate_limited" and refused["retry_after"] > 0
    await communicator.disconnect()


async def test_the_html_socket_ignores_bad_frames_and_keeps_serving(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(
        asgi_app, f"/ws/live/?streams={stream.pk}", headers=[ORIGIN, cookie]
    )
    assert (await communicator.connect(timeout=5))[0]
    assert str(stream.pk) in await communicator.receive_from(timeout=5)
    for frame in BAD_FRAMES:
        await communicator.send_input({"type": "websocket.receive", **frame})
    other = await database_sync_to_async(make_stream)()
    await communicator.send_json_to({"subscribe": str(other.pk)})
    assert str(other.pk) in await communicator.receive_from(timeout=5)
    await communicator.disconnect()


def test_decode_frame_reads_only_json_objects() -> None:
    assert decode_frame('{"type": "snapshot"}', None) == {"type": "snapshot"}
    for frame in UNREADABLE:
        with pytest.raises(BadFrame):
            decode_frame(frame.get("text"), frame.get("bytes"))


def test_the_request_budget_refills_after_its_window() -> None:
    budget = RequestBudget(limit=2, window=60.0)
    assert budget.take(0.0) == 0 and budget.take(1.0) == 0
    assert budget.take(2.0) == pytest.approx(58.0)
    assert budget.take(60.5) == 0
