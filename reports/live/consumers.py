"""WebSocket consumers: JSON events for API clients here, HTML fragments for our pages
in reports/live/pages.py, on the base class both share.

Both send a full snapshot first on every (re)connect, remember the last ``seq`` they
forwarded per stream, and answer a gap (the channel layer dropped messages) with a
fresh snapshot. A delta whose text does not follow what the client has (it joined
mid-stage, or after a gap) is repaired from the checkpointed text.

Sockets have no channel of their own: they read their streams' events from this
process's hub (reports/live/hub.py), one subscription per stream however many sockets
watch it, through a bounded mailbox drained by one task per socket.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from reports.domain.config import config
from reports.domain.events import SNAPSHOT, EventType
from reports.live.access import visible_ids
from reports.live.auth import chosen_subprotocol
from reports.live.close_codes import FORBIDDEN, UNAUTHORIZED
from reports.live.deltas import SavedText, follow_text
from reports.live.frames import BadFrame, RequestBudget, decode_frame
from reports.live.guards import Guard, scope_guard, warden
from reports.live.hub import Delivery, Feed, Mailbox, hub, saved_output_loader
from reports.models import Stage, StageStatus, StreamingJob
from reports.streams.selectors import stream_snapshot

logger = logging.getLogger(__name__)

MAX_STREAMS_PER_SOCKET = 100


@dataclass
class Watch:
    """What one socket has sent for one stream."""

    feed: Feed
    last_seq: int | None = None
    # The seq of the last snapshot: events up to it are already in it.
    snapshot_seq: int = -1
    text_len: dict[str, int] = field(default_factory=dict)
    # The feed's last delivery this socket has handled (deliveries are replayed after
    # a shared snapshot; this keeps each one handled once).
    last_index: int = -1


@dataclass(frozen=True)
class Snapshot:
    """A snapshot as sent, shared by the sockets of a feed that want the same kind."""

    seq: int
    active: bool
    text_len: dict[str, int]
    text: str


class StreamWatcherConsumer(AsyncJsonWebsocketConsumer, abc.ABC):
    """Shared by both consumers: subscriptions, ownership, ordering and repair."""

    # No channel per socket: events come from the hub (an alias no layer is named).
    channel_layer_alias = "live-sockets-use-the-hub"
    # Whether the snapshot carries the running stages' text (HTML does, JSON does not).
    snapshot_has_text = True
    # Whether each delta is made to continue the client's copy of the text (JSON); HTML
    # pages are sent a stage's whole text instead (reports/live/running.py).
    repairs_text = True

    async def connect(self) -> None:
        self.watches: dict[str, Watch] = {}
        self.mailbox = Mailbox()
        self.snapshot_budget = RequestBudget(config().snapshot_requests_per_minute, 60.0)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=FORBIDDEN)
            return
        ids = self.initial_stream_ids()
        if ids is None:
            await self.close(code=FORBIDDEN)
            return
        allowed = await visible_ids(user, ids)
        if len(allowed) != len(ids):
            await self.close(code=FORBIDDEN)
            return
        # Closed with 4401 the moment the access that let it in is revoked.
        self.guard = scope_guard(self.scope, lambda: self._spawn_close(UNAUTHORIZED))
        await warden().enter(self.guard)
        await self.accept(subprotocol=chosen_subprotocol(self.scope))
        self.drain_task = asyncio.ensure_future(self.drain())
        for stream_id in allowed:
            await self.watch(stream_id)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels (4.2+) runs close_old_connections before every message in the one
        # thread all of this process's sockets share for the database, where each
        # handshake's session lookup also waits. In a reconnect storm a disconnect stuck
        # in that queue is killed by Daphne before it leaves the hub, and every hop delays
        # the next handshake. These consumers reach the database only through
        # database_sync_to_async, which closes old connections itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    guard: Guard | None = None

    def _spawn_close(self, code: int) -> None:
        self.closing = asyncio.ensure_future(self._close_revoked(code))

    async def _close_revoked(self, code: int) -> None:
        await self.refuse_frame("unauthorized", "Access revoked: sign in again.")
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        if self.guard is not None:
            warden().leave(self.guard)
        task = getattr(self, "drain_task", None)
        if task is not None:
            task.cancel()
        for stream_id, watch in getattr(self, "watches", {}).items():
            watch.feed.hub.leave(stream_id, self.mailbox)

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
        self.resync_requested = asyncio.get_running_loop().time()
        for stream_id in self.watches:
            self.mailbox.resync(stream_id)

    resync_requested = float("-inf")

    @abc.abstractmethod
    def initial_stream_ids(self) -> list[str] | None:
        """The streams named by the URL (None: refuse the connection)."""

    async def watch(self, stream_id: str) -> None:
        if stream_id in self.watches:
            return
        feed = await hub().join(stream_id, self.mailbox)
        self.watches[stream_id] = Watch(feed)
        self.mailbox.resync(stream_id)  # the snapshot comes first

    async def drain(self) -> None:
        """Send what the mailbox holds, in order, until the socket closes."""
        while True:
            item = await self.mailbox.get(self.idle_timeout())
            try:
                if item is not None:
                    await self.take(*item)
                await self.when_idle()
            except Exception:  # one event's trouble must not silence the socket
                logger.exception("Could not send %s's update", item[0] if item else "a")

    async def take(self, stream_id: str, delivery: Delivery | None) -> None:
        watch = self.watches.get(stream_id)
        if watch is None:
            return
        if delivery is None:
            await self.resync(stream_id, self.resync_requested)
        else:
            await self.handle(stream_id, watch, delivery)

    def idle_timeout(self) -> float | None:
        """How long the socket may wait for its next delivery (None: as long as it takes)."""
        return None

    async def when_idle(self) -> None:
        """After each delivery, and when ``idle_timeout`` ran out: send what is due."""

    @abc.abstractmethod
    def snapshot_key(self) -> Any:
        """Sockets with the same key get the same snapshot text."""

    @abc.abstractmethod
    def snapshot_text(self, stream: StreamingJob, stages: list[Stage]) -> str:
        """The whole state of one stream, as this socket sends it (sync: may query)."""

    def load_snapshot(self, stream_id: str) -> Snapshot | None:
        stream = StreamingJob.objects.filter(pk=stream_id).first()
        if stream is None:
            return None
        stages = list(stream.stages.in_order())
        # What the client will hold of each running stage's text.
        text_len = {
            s.key: len(s.output) if self.snapshot_has_text else 0
            for s in stages
            if s.status == StageStatus.RUNNING
        }
        text = self.snapshot_text(stream, stages)
        return Snapshot(stream.seq, stream.is_generating, text_len, text)

    async def resync(self, stream_id: str, not_before: float = float("-inf")) -> None:
        """Send a snapshot (shared with this process's other sockets of the stream, if
        one was just loaded), then replay what the feed received since it."""
        watch = self.watches[stream_id]
        feed = watch.feed
        load = database_sync_to_async(self.load_snapshot)
        snapshot = await feed.share(self.snapshot_key(), lambda: load(stream_id), not_before)
        if snapshot is None:
            return
        feed.active = snapshot.active
        watch.last_seq = None
        watch.snapshot_seq = snapshot.seq
        watch.text_len = dict(snapshot.text_len)
        watch.last_index = -1
        await self.send(text_data=snapshot.text)
        for delivery in list(feed.recent):
            await self.handle(stream_id, watch, delivery, replaying=True)

    async def handle(
        self, stream_id: str, watch: Watch, delivery: Delivery, *, replaying: bool = False
    ) -> None:
        """Forward one delivery, in seq order, repaired to continue the client's text."""
        if delivery.index <= watch.last_index:
            return  # handled already (replayed after a snapshot)
        watch.last_index = delivery.index
        event = delivery.event
        seq = event["seq"]
        if seq <= (watch.last_seq if watch.last_seq is not None else watch.snapshot_seq):
            return  # already sent, or already part of the snapshot
        if watch.last_seq is not None and seq != watch.last_seq + 1 and not replaying:
            # A gap: messages were dropped. A snapshot loaded after this one arrived,
            # then the replay (which includes this delivery) from it.
            await self.resync(stream_id, delivery.at)
            return
        watch.last_seq = seq
        if event["type"] == EventType.STAGE_DELTA and self.repairs_text:
            repaired = await follow_text(event, watch.text_len, saved_text(watch.feed, event))
            if repaired is None:
                return
            if repaired is not event:
                await self.forward(Delivery(delivery.index, repaired, delivery.at))
                return
        elif event["type"] == EventType.STAGE_STARTED:
            watch.text_len[event["stage"]] = 0
        await self.forward(delivery)

    @abc.abstractmethod
    async def forward(self, delivery: Delivery) -> None:
        """Send one event (as JSON, or as the HTML fragments it changes)."""


def saved_text(feed: Feed, event: dict[str, Any]) -> SavedText:
    """Reads a stage's checkpoint for ``follow_text``: the one another socket of the feed
    just read, unless it is too short for ``event``."""

    async def saved(sid: str, key: str) -> str:
        load = saved_output_loader(sid, key)
        text = await feed.share(("output", key), load)
        if len(text) < event.get("offset", 0):
            now = asyncio.get_running_loop().time()
            text = await feed.share(("output", key), load, now)
        return text

    return saved


class StreamEventsConsumer(StreamWatcherConsumer):
    """``/ws/streams/<stream_id>/``: the JSON contract (docs/contracts.md, "Live events").

    A ``stage.delta`` with ``offset`` 0 replaces the stage's text; any other appends.
    """

    snapshot_has_text = False

    def initial_stream_ids(self) -> list[str] | None:
        return [self.scope["url_route"]["kwargs"]["stream_id"]]

    def snapshot_key(self) -> Any:
        return "json"

    def snapshot_text(self, stream: StreamingJob, stages: list[Stage]) -> str:
        snapshot = stream_snapshot(stream, stages)
        return json.dumps({"type": SNAPSHOT, "seq": stream.seq, "stream": snapshot})

    async def forward(self, delivery: Delivery) -> None:
        await self.send(text_data=delivery.json_text())

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if content.get("type") == SNAPSHOT:
            await self.resync_all()
        else:
            await self.refuse_frame("bad_frame", 'The only request is {"type": "snapshot"}.')

    async def refuse_frame(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "error": code, "message": message, **extra})
