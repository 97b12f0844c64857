"""WebSocket consumers: JSON events for API clients, HTML fragments for our pages.

Both send a full snapshot first on every (re)connect, remember the last ``seq`` they
forwarded per stream, and answer a gap (the channel layer dropped messages) with a
fresh snapshot. A delta whose text does not follow what the client has (it joined
mid-stage, or after a gap) is repaired from the checkpointed text.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reports.domain.config import config
from reports.domain.events import (
    CHANNEL_MESSAGE,
    FINAL_EVENTS,
    SNAPSHOT,
    EventType,
    stream_group,
)
from reports.events.publisher import publisher
from reports.live import fragments as live
from reports.live.deltas import follow_text
from reports.live.frames import BadFrame, RequestBudget, decode_frame
from reports.models import ACTIVE_STATUSES, Stage, StageStatus, StreamingJob
from reports.streams.selectors import parse_uuid, stream_snapshot

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
MAX_STREAMS_PER_SOCKET = 100


@dataclass
class Watch:
    """What one socket has sent for one stream."""

    last_seq: int | None = None
    # The seq of the last snapshot: events up to it are already in it.
    snapshot_seq: int = -1
    text_len: dict[str, int] = field(default_factory=dict)
    # Whether the client last saw the stream active, and when it last heard of it.
    active: bool = True
    heard_at: float = 0.0


class StreamWatcherConsumer(AsyncJsonWebsocketConsumer, abc.ABC):
    """Shared by both consumers: subscriptions, ownership, ordering and repair."""

    # Whether the snapshot carries the running stages' text (HTML does, JSON does not).
    snapshot_has_text = True

    async def connect(self) -> None:
        self.watches: dict[str, Watch] = {}
        self.lock = asyncio.Lock()
        self.snapshot_budget = RequestBudget(config().snapshot_requests_per_minute, 60.0)
        publisher.bind_server_loop(asyncio.get_running_loop())
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=FORBIDDEN)
            return
        ids = self.initial_stream_ids()
        if ids is None:
            await self.close(code=FORBIDDEN)
            return
        allowed = await self.visible_ids(ids)
        if len(allowed) != len(ids):
            await self.close(code=FORBIDDEN)
            return
        await self.accept()
        for stream_id in allowed:
            await self.watch(stream_id)
        self.idle_task = asyncio.ensure_future(self.check_idle_streams())

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "idle_task", None)
        if task is not None:
            task.cancel()
        for stream_id in list(getattr(self, "watches", {})):
            await self.channel_layer.group_discard(stream_group(stream_id), self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels (4.2+) runs close_old_connections in a thread before EVERY message,
        # a thread hop per delta per socket. Stream events touch the database only to
        # repair, through database_sync_to_async, which closes old connections itself.
        if message["type"] == CHANNEL_MESSAGE:
            await self.stream_event(message)
        else:
            await super().dispatch(message)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """A client's frame; one that cannot be read is answered, never raised."""
        try:
            content = decode_frame(text_data, bytes_data)
        except BadFrame as exc:
            await self.refuse_frame("bad_frame", str(exc))
            return
        await self.receive_json(content, **kwargs)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        # The browser may leave between our check and our send: nothing to tell it then.
        with contextlib.suppress(Disconnected):
            await super().send(text_data, bytes_data, close)

    async def refuse_frame(self, code: str, message: str, **extra: Any) -> None:
        """Tell the client its frame was not acted on (the HTML socket stays quiet)."""

    async def resync_all(self) -> None:
        """A client asked for fresh snapshots: granted within its budget."""
        wait = self.snapshot_budget.take(asyncio.get_running_loop().time())
        if wait:
            message = f"Too many snapshot requests; try again in {wait:.0f} s."
            await self.refuse_frame("rate_limited", message, retry_after=round(wait, 1))
            return
        async with self.lock:
            for stream_id in self.watches:
                await self.resync(stream_id)

    @abc.abstractmethod
    def initial_stream_ids(self) -> list[str] | None:
        """The streams named by the URL (None: refuse the connection)."""

    async def watch(self, stream_id: str) -> None:
        if stream_id in self.watches:
            return
        self.watches[stream_id] = Watch()
        await self.channel_layer.group_add(stream_group(stream_id), self.channel_name)
        async with self.lock:
            await self.resync(stream_id)

    @database_sync_to_async
    def visible_ids(self, ids: list[str]) -> list[str]:
        parsed = [parse_uuid(value) for value in ids]
        pks = [pk for pk in parsed if pk is not None]
        if len(pks) != len(parsed):
            return []
        found = StreamingJob.objects.visible_to(self.scope["user"]).filter(pk__in=pks)
        return [str(pk) for pk in found.values_list("pk", flat=True)]

    @database_sync_to_async
    def load(self, stream_id: str) -> tuple[StreamingJob, list[Stage]] | None:
        stream = StreamingJob.objects.filter(pk=stream_id).first()
        if stream is None:
            return None
        return stream, list(stream.stages.in_order())

    async def resync(self, stream_id: str) -> None:
        """Send a snapshot and restart the seq and text bookkeeping from it."""
        loaded = await self.load(stream_id)
        if loaded is None:
            return
        stream, stages = loaded
        watch = self.watches[stream_id]
        watch.last_seq = None
        watch.snapshot_seq = stream.seq
        watch.active = stream.is_generating
        watch.heard_at = asyncio.get_running_loop().time()
        # What the client now holds of each running stage's text.
        watch.text_len = {
            s.key: len(s.output) if self.snapshot_has_text else 0
            for s in stages
            if s.status == StageStatus.RUNNING
        }
        await self.send_snapshot(stream, stages)

    async def stream_event(self, message: dict[str, Any]) -> None:
        """A channel-layer message from the engine: ``{"event": {...}}``."""
        event = message["event"]
        stream_id = event["stream_id"]
        async with self.lock:
            watch = self.watches.get(stream_id)
            if watch is None:
                return
            seq = event["seq"]
            if seq <= (watch.last_seq if watch.last_seq is not None else watch.snapshot_seq):
                return  # already sent, or already part of the snapshot
            if watch.last_seq is not None and seq != watch.last_seq + 1:
                await self.resync(stream_id)  # a gap: messages were dropped
                if seq <= watch.snapshot_seq:
                    return
            watch.last_seq = seq
            watch.heard_at = asyncio.get_running_loop().time()
            if event["type"] in FINAL_EVENTS:
                watch.active = False
            if event["type"] == EventType.STAGE_DELTA:
                repaired = await follow_text(event, watch.text_len)
                if repaired is None:
                    return
                event = repaired
            elif event["type"] == EventType.STAGE_STARTED:
                watch.text_len[event["stage"]] = 0
            await self.forward(event)

    async def check_idle_streams(self) -> None:
        """Every few seconds, look up active streams this socket has not heard from.

        Gaps are repaired when the next event arrives; this covers the one case where
        none will: the channel layer dropped a stream's final event.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(config().live_idle_check_seconds)
            quiet_since = loop.time() - config().live_idle_check_seconds
            quiet = [
                sid for sid, w in self.watches.items() if w.active and w.heard_at < quiet_since
            ]
            if not quiet:
                continue
            for stream_id in await self.finished_ids(quiet):
                async with self.lock:
                    if self.watches[stream_id].active:
                        await self.resync(stream_id)

    @database_sync_to_async
    def finished_ids(self, stream_ids: list[str]) -> list[str]:
        found = StreamingJob.objects.filter(pk__in=stream_ids).exclude(status__in=ACTIVE_STATUSES)
        return [str(pk) for pk in found.values_list("pk", flat=True)]

    @abc.abstractmethod
    async def send_snapshot(self, stream: StreamingJob, stages: list[Stage]) -> None:
        """Send the whole state of one stream."""

    @abc.abstractmethod
    async def forward(self, event: dict[str, Any]) -> None:
        """Send one event (as JSON, or as the HTML fragments it changes)."""


class StreamEventsConsumer(StreamWatcherConsumer):
    """``/ws/streams/<stream_id>/``: the JSON contract of DESIGN.md.

    A ``stage.delta`` with ``offset`` 0 replaces the stage's text; any other appends.
    """

    snapshot_has_text = False

    def initial_stream_ids(self) -> list[str] | None:
        return [self.scope["url_route"]["kwargs"]["stream_id"]]

    async def send_snapshot(self, stream: StreamingJob, stages: list[Stage]) -> None:
        snapshot = await database_sync_to_async(stream_snapshot)(stream, stages)
        await self.send_json({"type": SNAPSHOT, "seq": stream.seq, "stream": snapshot})

    async def forward(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content.get("type") == SNAPSHOT:
            await self.resync_all()
        else:
            await self.refuse_frame("bad_frame", 'The only request is {"type": "snapshot"}.')

    async def refuse_frame(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "error": code, "message": message, **extra})


class LivePageConsumer(StreamWatcherConsumer):
    """``/ws/live/?streams=<id>,<id>``: HTML fragments for one page, many streams.

    A page subscribes to a stream it starts later by sending ``{"subscribe": "<id>"}``
    (``static/js/live.js``), so one socket serves every card on the page. Card pages add
    ``details=0``: their snapshots then leave out the stage list and its text.
    """

    def initial_stream_ids(self) -> list[str] | None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.show_details = query.get("details", ["1"])[-1] != "0"
        ids = [v for value in query.get("streams", []) for v in value.split(",") if v]
        return ids if len(ids) <= MAX_STREAMS_PER_SOCKET else None

    async def send_snapshot(self, stream: StreamingJob, stages: list[Stage]) -> None:
        html = await database_sync_to_async(live.render_component)(
            stream, show_details=self.show_details, oob=True
        )
        await self.send(text_data=html)

    async def forward(self, event: dict[str, Any]) -> None:
        html = await live.fragments_for(event)
        if html:
            await self.send(text_data=html)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        stream_id = content.get("subscribe")
        if not isinstance(stream_id, str) or len(self.watches) >= MAX_STREAMS_PER_SOCKET:
            return
        if await self.visible_ids([stream_id]):
            await self.watch(str(parse_uuid(stream_id)))
