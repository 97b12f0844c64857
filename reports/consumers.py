"""WebSocket consumers: JSON events for API clients, HTML fragments for our pages.

Both send a full snapshot first on every (re)connect, remember the last ``seq`` they
forwarded per stream, and answer a gap (the channel layer dropped messages) with a
fresh snapshot. A delta whose text does not follow what the client has (it joined
mid-stage, or after a gap) is repaired from the checkpointed text.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reports import live
from reports.broadcast import publisher
from reports.models import Stage, StageStatus, StreamingJob, stream_group
from reports.selectors import parse_uuid, stream_snapshot

logger = logging.getLogger(__name__)

FORBIDDEN = 4403
MAX_STREAMS_PER_SOCKET = 100


@dataclass
class Watch:
    """What one socket has sent for one stream."""

    last_seq: int | None = None
    text_len: dict[str, int] = field(default_factory=dict)


class StreamWatcherConsumer(AsyncJsonWebsocketConsumer, abc.ABC):
    """Shared by both consumers: subscriptions, ownership, ordering and repair."""

    async def connect(self) -> None:
        self.watches: dict[str, Watch] = {}
        self.lock = asyncio.Lock()
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

    async def disconnect(self, code: int) -> None:
        for stream_id in list(getattr(self, "watches", {})):
            await self.channel_layer.group_discard(stream_group(stream_id), self.channel_name)

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
        pks = [parse_uuid(value) for value in ids]
        if any(pk is None for pk in pks):
            return []
        found = StreamingJob.objects.visible_to(self.scope["user"]).filter(pk__in=pks)
        return [str(pk) for pk in found.values_list("pk", flat=True)]

    @database_sync_to_async
    def load(self, stream_id: str) -> tuple[StreamingJob, list[Stage]] | None:
        stream = StreamingJob.objects.filter(pk=stream_id).first()
        if stream is None:
            return None
        return stream, list(stream.stages.in_order())

    @database_sync_to_async
    def stage_output(self, stream_id: str, key: str) -> str:
        value = Stage.objects.filter(stream_id=stream_id, key=key).values_list("output", flat=True).first()
        return value or ""

    async def resync(self, stream_id: str) -> None:
        """Send a snapshot and restart the seq and text bookkeeping from it."""
        loaded = await self.load(stream_id)
        if loaded is None:
            return
        stream, stages = loaded
        watch = self.watches[stream_id]
        watch.last_seq = None
        watch.text_len = {s.key: len(s.output) for s in stages if s.status == StageStatus.RUNNING}
        await self.send_snapshot(stream, stages)

    async def stream_event(self, message: dict[str, Any]) -> None:
        """A channel-layer message from the engine: ``{"event": {...}, "html": "..."}``."""
        event = message["event"]
        stream_id = event["stream_id"]
        async with self.lock:
            watch = self.watches.get(stream_id)
            if watch is None:
                return
            seq = event["seq"]
            if watch.last_seq is not None and seq <= watch.last_seq:
                return  # already sent (or older than the snapshot's events)
            if watch.last_seq is not None and seq != watch.last_seq + 1:
                await self.resync(stream_id)
            watch.last_seq = seq
            if event["type"] == "stage.delta":
                repaired = await self.follow_text(watch, event)
                if repaired is None:
                    return
                if repaired is not event:
                    await self.forward(repaired, live.render_event_html(repaired))
                    return
            elif event["type"] == "stage.started":
                watch.text_len[event["stage"]] = 0
            await self.forward(event, message.get("html", ""))

    async def follow_text(self, watch: Watch, event: dict[str, Any]) -> dict[str, Any] | None:
        """Make a delta continue the client's text: as is, trimmed, rebuilt, or not yet."""
        key, text, offset = event["stage"], event["text"], event.get("offset", 0)
        known = watch.text_len.get(key, 0)
        end = offset + len(text)
        if offset == 0 or offset == known:
            watch.text_len[key] = end
            return event
        if offset < known:
            if end <= known:
                return None
            watch.text_len[key] = end
            return {**event, "text": text[known - offset :], "offset": known}
        saved = await self.stage_output(event["stream_id"], key)
        if len(saved) < offset:
            return None  # the checkpoint has not caught up yet; a later delta repairs
        watch.text_len[key] = end
        return {**event, "text": saved[:offset] + text, "offset": 0}

    @abc.abstractmethod
    async def send_snapshot(self, stream: StreamingJob, stages: list[Stage]) -> None:
        """Send the whole state of one stream."""

    @abc.abstractmethod
    async def forward(self, event: dict[str, Any], html: str) -> None:
        """Send one event (as JSON, or as its pre-rendered HTML)."""


class StreamEventsConsumer(StreamWatcherConsumer):
    """``/ws/streams/<stream_id>/``: the JSON contract of DESIGN.md."""

    def initial_stream_ids(self) -> list[str] | None:
        return [self.scope["url_route"]["kwargs"]["stream_id"]]

    async def send_snapshot(self, stream: StreamingJob, stages: list[Stage]) -> None:
        snapshot = await database_sync_to_async(stream_snapshot)(stream, stages)
        await self.send_json({"type": "snapshot", "seq": stream.seq, "stream": snapshot})

    async def forward(self, event: dict[str, Any], html: str) -> None:
        await self.send_json(event)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "snapshot":
            async with self.lock:
                for stream_id in self.watches:
                    await self.resync(stream_id)


class LivePageConsumer(StreamWatcherConsumer):
    """``/ws/live/?streams=<id>,<id>``: HTML fragments for one page, many streams.

    A page subscribes to a stream it starts later by sending ``{"subscribe": "<id>"}``
    (htmx ``ws-send``), so one socket serves every card on the page.
    """

    def initial_stream_ids(self) -> list[str] | None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        ids = [v for value in query.get("streams", []) for v in value.split(",") if v]
        return ids if len(ids) <= MAX_STREAMS_PER_SOCKET else None

    async def send_snapshot(self, stream: StreamingJob, stages: list[Stage]) -> None:
        html = await database_sync_to_async(live.render_component)(stream, oob=True)
        await self.send(text_data=html)

    async def forward(self, event: dict[str, Any], html: str) -> None:
        if html:
            await self.send(text_data=html)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        stream_id = content.get("subscribe") if isinstance(content, dict) else None
        if not isinstance(stream_id, str) or len(self.watches) >= MAX_STREAMS_PER_SOCKET:
            return
        if await self.visible_ids([stream_id]):
            await self.watch(str(parse_uuid(stream_id)))
