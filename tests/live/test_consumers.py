from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream
from tests.conftest import session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")


async def connect(
    app: Any, path: str, *headers: tuple[bytes, bytes]
) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(app, path, headers=list(headers))
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def receive_until(communicator: WebsocketCommunicator, final: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=15)
        messages.append(message)
        if message["type"] == final:
            return messages


async def test_snapshot_first_then_every_event_in_seq_order(
    asgi_app: Any, make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN, cookie
    )
    assert connected

    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert snapshot["stream"]["stream_id"] == str(stream.pk)
    assert [s["status"] for s in snapshot["stream"]["stages"]] == ["pending"] * 7

    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, stream.pk))
    events = await receive_until(communicator, "stream.completed")
    assert await runner == "completed"
    await communicator.disconnect()

    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert all(e["stream_id"] == str(stream.pk) for e in events)
    types = [e["type"] for e in events]
    assert types.count("stage.completed") == 7
    assert "stage.delta" in types
    # Deltas of a stage, put together, are exactly the saved output.
    brief = "".join(
        e["text"] for e in events if e["type"] == "stage.delta" and e["stage"] == "brief"
    )
    saved = await database_sync_to_async(lambda: stream.stages.get(key="brief").output)()
    assert brief == saved
    assert events[-1]["report_id"]


async def test_a_client_joining_mid_stage_gets_the_text_so_far(
    asgi_app: Any, make_stream: Any, user: User, fake_provider: FakeProvider, settings: Any
) -> None:
    from reports.models import Stage, StageStatus
    from tests.conftest import wait_for

    settings.CHECKPOINT_SECONDS = 0.05
    settings.DELTA_COALESCE_SECONDS = 0.01
    fake_provider.delay = 0.01  # every stage streams for a while
    stream = await database_sync_to_async(make_stream)()
    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, stream.pk))

    def sections_checkpointed() -> bool:
        return (
            Stage.objects.filter(stream=stream, key="sections", status=StageStatus.RUNNING)
            .exclude(output="")
            .exists()
        )

    await asyncio.to_thread(wait_for, sections_checkpointed)
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN, cookie
    )
    assert connected
    messages = await receive_until(communicator, "stream.completed")
    await runner
    await communicator.disconnect()

    assert messages[0]["type"] == "snapshot"
    deltas = [m for m in messages if m["type"] == "stage.delta" and m["stage"] == "sections"]
    assert deltas and deltas[0]["offset"] == 0  # the first one brings the text so far
    text = ""
    for delta in deltas:
        assert delta["offset"] in (0, len(text))
        text = delta["text"] if delta["offset"] == 0 else text + delta["text"]
    saved = await database_sync_to_async(
        lambda: Stage.objects.get(stream=stream, key="sections").output
    )()
    assert text == saved


async def test_another_user_is_refused(asgi_app: Any, make_stream: Any, other_user: User) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(other_user)
    _, connected, code = await connect(asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN, cookie)
    assert not connected
    assert code == 4403


async def test_staff_may_watch_any_stream(
    asgi_app: Any, make_stream: Any, staff_user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(staff_user)
    communicator, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN, cookie
    )
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.disconnect()


async def test_anonymous_is_refused(asgi_app: Any, make_stream: Any) -> None:
    stream = await database_sync_to_async(make_stream)()
    _, connected, code = await connect(asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN)
    assert not connected
    assert code == 4403


async def test_a_foreign_origin_is_refused(asgi_app: Any, make_stream: Any, user: User) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    _, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream.pk}/", (b"origin", b"https://evil.example"), cookie
    )
    assert not connected


async def test_a_malformed_stream_id_is_refused(asgi_app: Any, user: User) -> None:
    cookie = await database_sync_to_async(session_cookie)(user)
    _, connected, code = await connect(asgi_app, "/ws/streams/not-a-uuid/", ORIGIN, cookie)
    assert not connected
    assert code == 4403


async def test_live_page_socket_sends_html_fragments(
    asgi_app: Any, make_stream: Any, user: User, other_user: User, fake_provider: FakeProvider
) -> None:
    mine = await database_sync_to_async(make_stream)()
    theirs = await database_sync_to_async(make_stream)(owner=other_user)
    cookie = await database_sync_to_async(session_cookie)(user)

    _, connected, code = await connect(
        asgi_app, f"/ws/live/?streams={mine.pk},{theirs.pk}", ORIGIN, cookie
    )
    assert not connected and code == 4403

    communicator, connected, _ = await connect(
        asgi_app, f"/ws/live/?streams={mine.pk}", ORIGIN, cookie
    )
    assert connected
    snapshot = await communicator.receive_from(timeout=5)
    assert f'id="stream-{mine.pk}"' in snapshot and 'hx-swap-oob="true"' in snapshot
    # Subscribing to someone else's stream later is ignored.
    await communicator.send_json_to({"subscribe": str(theirs.pk)})
    # The brief streams once its box is on the page (a row drawn after the stage ended
    # has no box, and then no text is sent for it).
    box_drawn = threading.Event()
    fake_provider.script("brief", Script(gate=box_drawn))
    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, mine.pk))
    fragments = []
    while True:
        html = await communicator.receive_from(timeout=15)
        assert str(theirs.pk) not in html
        fragments.append(html)
        if f'id="stage-{mine.pk}-brief-output" class="stage-output ' in html:
            box_drawn.set()
        if "the document is ready" in html:
            break
    await runner
    await communicator.disconnect()
    assert any(f'id="stage-{mine.pk}-brief-output" hx-swap-oob=' in f for f in fragments)
    assert any(f'id="stage-{mine.pk}-assembly"' in f and "stage-completed" in f for f in fragments)


async def test_card_pages_get_snapshots_without_the_stage_list(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    path = f"/ws/live/?details=0&streams={stream.pk}"
    communicator, connected, _ = await connect(asgi_app, path, ORIGIN, cookie)
    assert connected
    snapshot = await communicator.receive_from(timeout=5)
    await communicator.disconnect()
    assert f'id="stream-{stream.pk}-summary"' in snapshot
    assert 'class="stages"' not in snapshot


async def test_a_dropped_final_event_still_reaches_the_client(
    asgi_app: Any, make_stream: Any, user: User, settings: Any
) -> None:
    """The channel layer lost ``stream.completed``: the quiet socket checks the database."""
    from reports.models import StreamingJob

    settings.LIVE_IDLE_CHECK_SECONDS = 0.2
    stream = await database_sync_to_async(make_stream)()
    await database_sync_to_async(StreamingJob.objects.filter(pk=stream.pk).update)(status="running")
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN, cookie
    )
    assert connected
    first = await communicator.receive_json_from(timeout=5)
    assert first["stream"]["status"] == "running"
    # The run ends, but its final event never arrives (no publish at all).
    await database_sync_to_async(StreamingJob.objects.filter(pk=stream.pk).update)(
        status="completed", progress=100
    )
    second = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert second["type"] == "snapshot"
    assert second["stream"]["status"] == "completed"


async def test_events_already_in_the_snapshot_are_not_sent_again(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    """The engine saves a stage with its event's seq before publishing the event."""
    from reports.events.publisher import publisher
    from reports.models import StreamingJob

    stream = await database_sync_to_async(make_stream)()
    await database_sync_to_async(StreamingJob.objects.filter(pk=stream.pk).update)(seq=1026)
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream.pk}/", ORIGIN, cookie
    )
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["seq"] == 1026
    for seq in (1025, 1026, 1027):
        event = {"type": "stream.progress", "seq": seq, "stream_id": str(stream.pk)}
        publisher.publish(stream.pk, {"type": "stream.event", "event": event, "html": ""})
    received = await communicator.receive_json_from(timeout=5)
    assert received["seq"] == 1027
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("saved_seq", "after_snapshot"),
    [
        (4, []),  # the snapshot already holds seq 4: sent instead of it
        (3, [4]),  # the snapshot predates seq 4: sent before it
    ],
)
async def test_a_gap_in_seq_is_answered_with_a_fresh_snapshot_and_no_duplicates(
    asgi_app: Any, make_stream: Any, user: User, saved_seq: int, after_snapshot: list[int]
) -> None:
    """DESIGN's headline guarantee: when the channel layer drops messages (seq 1, 2,
    then 4), the client gets a fresh snapshot, and never an event twice."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    from reports.domain.events import stream_group
    from reports.models import StreamingJob

    stream = await database_sync_to_async(make_stream)()
    stream_id = str(stream.pk)
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator, connected, _ = await connect(
        asgi_app, f"/ws/streams/{stream_id}/", ORIGIN, cookie
    )
    try:
        assert connected
        first = await communicator.receive_json_from(timeout=5)
        assert (first["type"], first["seq"]) == ("snapshot", 0)
        layer = get_channel_layer()
        assert isinstance(layer, InMemoryChannelLayer)
        [channel] = layer.groups[stream_group(stream_id)]  # this socket's channel

        async def deliver(seq: int) -> None:
            event = {"type": "stream.progress", "stream_id": stream_id, "seq": seq}
            await layer.send(channel, {"type": "stream.event", "event": event})

        async def received() -> dict[str, Any]:
            message: dict[str, Any] = await communicator.receive_json_from(timeout=5)
            return message

        for seq in (1, 2):
            await deliver(seq)
            assert (await received())["seq"] == seq

        # Seq 3 was dropped; the stream in the database has moved on to saved_seq.
        await database_sync_to_async(
            StreamingJob.objects.filter(pk=stream.pk).update
        )(seq=saved_seq)
        for seq in (4, 2, 4, 5):  # the gap, then late duplicates, then the next event
            await deliver(seq)
        messages = [await received() for _ in range(2 + len(after_snapshot))]
    finally:
        await communicator.disconnect()

    snapshot, *rest = messages
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == saved_seq
    assert snapshot["stream"]["stream_id"] == stream_id
    assert [(m["type"], m["seq"]) for m in rest] == [
        ("stream.progress", seq) for seq in [*after_snapshot, 5]
    ]
