"""``GET /api/streams/<id>/events/``: Server-Sent Events through the real ASGI app,
read chunk by chunk as a client would (and disconnected as a client would)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application

from reports.events.eventlog import RedisEventLog, event_log
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import async_wait_for, require_service, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@dataclass
class SSEClient:
    """One connection: parses ``id:``/``data:`` messages and ``:`` comments as they come."""

    communicator: ApplicationCommunicator
    status: int
    headers: dict[bytes, bytes]
    buffer: str = ""
    comments: list[str] = field(default_factory=list)
    body: str = ""

    async def read_body(self, timeout: float = 10) -> None:
        message = await self.communicator.receive_output(timeout)
        assert message["type"] == "http.response.body"
        chunk = message.get("body", b"").decode()
        self.buffer += chunk
        self.body += chunk

    async def next_event(self, timeout: float = 10) -> tuple[int | None, dict[str, Any]]:
        """The next data message: (its ``id:``, its JSON)."""
        while True:
            while "\n\n" not in self.buffer:
                await self.read_body(timeout)
            block, self.buffer = self.buffer.split("\n\n", 1)
            event_id, data = None, None
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if data is not None:
                return event_id, data

    async def until(self, condition: Any) -> list[dict[str, Any]]:
        events = []
        while True:
            event_id, event = await self.next_event()
            assert event_id == event["seq"]
            events.append(event)
            if condition(event):
                return events

    async def close(self) -> None:
        await self.communicator.send_input({"type": "http.disconnect"})
        await self.communicator.wait(timeout=5)


async def open_events(path: str, *headers: tuple[bytes, bytes], query: str = "") -> SSEClient:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    communicator = ApplicationCommunicator(get_asgi_application(), scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(10)
    assert start["type"] == "http.response.start"
    client = SSEClient(communicator, start["status"], dict(start["headers"]))
    if client.status != 200:
        await client.read_body()
    return client


def url(stream: Any) -> str:
    return f"/api/streams/{stream.pk}/events/"


async def test_only_the_owner_or_staff_may_listen(
    make_stream: Any, user: User, other_user: User, staff_user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()

    anonymous = await open_events(url(stream))
    assert anonymous.status == 401 and json.loads(anonymous.body)["error"] == "unauthorized"
    stranger_cookie = await database_sync_to_async(session_cookie)(other_user)
    stranger = await open_events(url(stream), stranger_cookie)
    assert stranger.status == 404 and json.loads(stranger.body)["error"] == "not_found"
    bad = await open_events(
        "/api/streams/not-a-uuid/events/", await database_sync_to_async(session_cookie)(other_user)
    )
    assert bad.status == 404
    missing = await open_events(
        f"/api/streams/{uuid.uuid4()}/events/",
        await database_sync_to_async(session_cookie)(staff_user),
    )
    assert missing.status == 404

    from reports.web.auth import create_api_token

    token = await database_sync_to_async(create_api_token)(user=user)
    bearer = await open_events(url(stream), (b"authorization", f"Bearer {token}".encode()))
    assert bearer.status == 200  # API clients (curl) use their token
    await bearer.close()
    forged = await open_events(url(stream), (b"authorization", b"Bearer rs_not-a-token"))
    assert forged.status == 401

    staff = await open_events(url(stream), await database_sync_to_async(session_cookie)(staff_user))
    assert staff.status == 200
    assert staff.headers[b"Content-Type"].startswith(b"text/event-stream")
    _, snapshot = await staff.next_event()
    assert snapshot["type"] == "snapshot"
    await staff.close()


async def test_fresh_connection_gets_a_snapshot_then_live_events(
    make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    client = await open_events(url(stream), cookie)
    event_id, snapshot = await client.next_event()
    assert snapshot["type"] == "snapshot" and event_id == snapshot["seq"] == 0
    assert snapshot["stream"]["stream_id"] == str(stream.pk)

    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, stream.pk))
    events = await client.until(lambda e: e["type"] == "stream.completed")
    assert await runner == "completed"
    await client.close()

    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert "stage.delta" in {e["type"] for e in events}


async def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(
    make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    fake_provider.delay = 0.005
    stream = await database_sync_to_async(make_stream)()
    cookie = await database_sync_to_async(session_cookie)(user)
    first = await open_events(url(stream), cookie)
    await first.next_event()  # the snapshot
    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, stream.pk))
    # Hang up in the middle of a stage's text.
    before = await first.until(
        lambda e: e["type"] == "stage.delta" and e["stage"] == "sections" and e["offset"] > 0
    )
    await first.close()
    last_id = before[-1]["seq"]

    second = await open_events(url(stream), cookie, (b"last-event-id", str(last_id).encode()))
    after = await second.until(lambda e: e["type"] == "stream.completed")
    assert await runner == "completed"
    await second.close()

    assert after[0]["type"] != "snapshot"  # replayed, not resynced
    seqs = [e["seq"] for e in before + after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no repeat
    stages = await database_sync_to_async(lambda: {s.key: s.output for s in stream.stages.all()})()
    for key in ("brief", "sections", "summary"):
        text = "".join(
            e["text"] for e in before + after if e["type"] == "stage.delta" and e["stage"] == key
        )
        assert text == stages[key]


async def test_a_last_event_id_the_log_no_longer_holds_gets_a_snapshot(
    make_stream: Any, user: User, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.EVENT_LOG_MAXLEN = 5
    stream = await database_sync_to_async(make_stream)()
    assert await asyncio.to_thread(run_stream, stream.pk) == "completed"
    final_seq = await database_sync_to_async(lambda: type(stream).objects.get(pk=stream.pk).seq)()
    cookie = await database_sync_to_async(session_cookie)(user)

    old = await open_events(url(stream), cookie, (b"last-event-id", b"1001"))
    event_id, event = await old.next_event()
    await old.close()
    assert event["type"] == "snapshot" and event_id == final_seq
    assert event["stream"]["status"] == "completed"

    # One the log still holds: exactly the events after it, no snapshot.
    recent = await open_events(url(stream), cookie, (b"last-event-id", str(final_seq - 2).encode()))
    replayed = [await recent.next_event() for _ in range(2)]
    await recent.close()
    assert [event_id for event_id, _ in replayed] == [final_seq - 1, final_seq]
    assert replayed[-1][1]["type"] == "stream.completed"


async def test_heartbeat_comments_keep_the_connection_alive(
    make_stream: Any, user: User, settings: Any
) -> None:
    settings.SSE_HEARTBEAT_SECONDS = 0.05
    stream = await database_sync_to_async(make_stream)()
    client = await open_events(url(stream), await database_sync_to_async(session_cookie)(user))
    await client.next_event()
    await client.read_body()
    await client.close()
    assert ": keep-alive" in client.body


async def test_redis_event_log_replays_in_order_and_knows_its_limits(settings: Any) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    settings.EVENT_LOG_MAXLEN = 1000
    log = RedisEventLog("redis://127.0.0.1:6379/15", ttl_seconds=60)
    stream_id = str(uuid.uuid4())
    log.write([(stream_id, {"type": "stage.delta", "seq": s}) for s in (1001, 1002, 1003)])
    log.write([(stream_id, {"type": "stage.delta", "seq": s}) for s in (2004, 2005)])
    log.write([(stream_id, {"type": "late", "seq": 1500})])  # a straggler: not logged
    logged = await log.since(stream_id, 1001)
    assert [e["seq"] for e in logged or []] == [1002, 1003, 2004, 2005]
    assert [e["seq"] for e in await log.since(stream_id, 2004) or []] == [2005]
    assert await log.since(stream_id, 1000) is None  # before the log began: resync
    assert await log.since(str(uuid.uuid4()), 5) is None
    assert await log.newest(stream_id) == 2005  # an id above it is ahead of the stream
    assert await log.newest(str(uuid.uuid4())) is None
    await log.client().delete(log.key(stream_id))


async def test_a_dropped_final_event_still_reaches_a_quiet_client(
    make_stream: Any, user: User, settings: Any
) -> None:
    from django.db.models import F

    from reports.models import StreamingJob

    settings.LIVE_IDLE_CHECK_SECONDS = 0.2
    stream = await database_sync_to_async(make_stream)()
    running = StreamingJob.objects.filter(pk=stream.pk)
    await database_sync_to_async(running.update)(status="running")
    client = await open_events(url(stream), await database_sync_to_async(session_cookie)(user))
    _, first = await client.next_event()
    assert first["type"] == "snapshot" and first["stream"]["status"] == "running"
    # The run ends past the client's seq, and its final event is never published.
    await database_sync_to_async(running.update)(status="completed", seq=F("seq") + 5)
    _, second = await client.next_event(timeout=5)
    await client.close()
    assert second["type"] == "snapshot" and second["stream"]["status"] == "completed"


def resume_from(value: str, how: str) -> dict[str, Any]:
    """``open_events`` arguments that resume from ``value`` by header or by query."""
    if how == "header":
        return {"headers": [(b"last-event-id", value.encode())], "query": ""}
    return {"headers": [], "query": f"last_event_id={value}"}


MALFORMED = ["abc", "-3", "1.5", "", "9" * 40, "0x10", "\uff11\uff12"]  # the last: fullwidth digits


@pytest.mark.parametrize("how", ["header", "query"])
@pytest.mark.parametrize("last_id", MALFORMED)
async def test_a_malformed_id_gets_a_snapshot_then_live_events(
    make_stream: Any, user: User, fake_provider: FakeProvider, how: str, last_id: str
) -> None:
    stream = await database_sync_to_async(make_stream)()
    resume = resume_from(last_id, how)
    cookie = await database_sync_to_async(session_cookie)(user)
    client = await open_events(url(stream), cookie, *resume["headers"], query=resume["query"])
    event_id, snapshot = await client.next_event(timeout=5)
    assert snapshot["type"] == "snapshot" and event_id == snapshot["seq"] == stream.seq
    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, stream.pk))
    events = await client.until(lambda e: e["type"] == "stream.completed")
    assert await runner == "completed"
    await client.close()
    seqs = [e["seq"] for e in events]
    assert seqs[0] > snapshot["seq"]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no repeat


@pytest.mark.parametrize("how", ["header", "query"])
async def test_an_id_ahead_of_a_running_stream_gets_a_snapshot_then_live_events(
    make_stream: Any, user: User, fake_provider: FakeProvider, how: str
) -> None:
    """Issue 32: an id above the stream's got keep-alives only, not even the end."""
    fake_provider.delay = 0.005
    stream = await database_sync_to_async(make_stream)()
    runner = asyncio.ensure_future(asyncio.to_thread(run_stream, stream.pk))
    logged = event_log().logged  # type: ignore[union-attr]  # the embedded log in tests
    await async_wait_for(lambda: len(logged(str(stream.pk))) > 3)
    ahead = logged(str(stream.pk))[-1]["seq"] + 100_000
    resume = resume_from(str(ahead), how)
    cookie = await database_sync_to_async(session_cookie)(user)
    client = await open_events(url(stream), cookie, *resume["headers"], query=resume["query"])
    event_id, snapshot = await client.next_event(timeout=5)
    assert snapshot["type"] == "snapshot" and event_id == snapshot["seq"] < ahead
    events = await client.until(lambda e: e["type"] == "stream.completed")
    assert await runner == "completed"
    await client.close()
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))


@pytest.mark.parametrize("how", ["header", "query"])
async def test_an_id_ahead_of_a_finished_stream_gets_its_final_snapshot(
    make_stream: Any, user: User, fake_provider: FakeProvider, how: str
) -> None:
    stream = await database_sync_to_async(make_stream)()
    assert await asyncio.to_thread(run_stream, stream.pk) == "completed"
    final_seq = await database_sync_to_async(lambda: type(stream).objects.get(pk=stream.pk).seq)()
    resume = resume_from(str(final_seq + 1), how)
    cookie = await database_sync_to_async(session_cookie)(user)
    client = await open_events(url(stream), cookie, *resume["headers"], query=resume["query"])
    event_id, event = await client.next_event(timeout=5)
    await client.close()
    assert event["type"] == "snapshot" and event_id == final_seq
    assert event["stream"]["status"] == "completed"
