"""One channel-layer subscription per watched stream per web process, fanned out locally.

Every socket of this process that watches a stream (WebSocket consumers, SSE responses)
shares one ``Feed``: one channel (``new_channel``), one ``group_add`` to the stream's
group and one task receiving from it, however many sockets watch. Channel-layer traffic
then grows with streams x web processes, not with sockets, and a process with no
watcher of a stream is in none of its groups and receives none of its messages.

The feed puts each event, as one shared ``Delivery`` (its JSON encoded once, its HTML
rendered once by reports/live/fragments.py), into each subscriber's ``Mailbox``: a
bounded queue the socket drains in its own task. A socket that falls behind (a slow
client, a repair waiting for the database) never delays the feed or the other
sockets: when its mailbox is full, what is queued is dropped and the streams concerned
are marked stale; the socket's next read is a resync (a fresh snapshot, which the
event contract already allows at any time), never an unbounded backlog.

Snapshots are shared as well (``Feed.snapshot``): sockets that need one within
``SNAPSHOT_REUSE_SECONDS`` of another's load reuse it, and replay the feed's recent
deliveries (``Feed.recent``) to catch up from it, so ten tabs reconnecting to one
stream cost one snapshot. The feed, not each socket, checks a quiet active stream
against the database (the layer may have dropped its final event): one query per
stream per process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer

from reports.domain.config import config
from reports.domain.events import FINAL_EVENTS, stream_group
from reports.events.publisher import publisher
from reports.models import ACTIVE_STATUSES, Stage, StreamingJob

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Events a socket may fall behind by before it is sent a snapshot instead (at ~10
# events/s per running stage: 25 s), and deliveries a feed keeps for catching up.
MAILBOX_LIMIT = 256
RECENT_KEPT = 128
# How long a snapshot (or a stage's checkpointed text) may be shared by later sockets.
SNAPSHOT_REUSE_SECONDS = 2.0


@dataclass(eq=False, slots=True)
class Delivery:
    """One event as the feed received it; ``index`` counts the feed's deliveries."""

    index: int
    event: dict[str, Any]
    at: float  # the loop's time when it arrived
    # Its encodings ("json", "html"), made by the first socket that sends it as it is.
    encoded: dict[str, str] = field(default_factory=dict)

    def json_text(self) -> str:
        """The event as JSON text, encoded once for every socket that sends it as is."""
        text = self.encoded.get("json")
        if text is None:
            text = self.encoded["json"] = json.dumps(self.event)
        return text


# What a socket reads: (stream id, a delivery) or (stream id, None): send a snapshot.
Item = tuple[str, Delivery | None]


class Mailbox:
    """One socket's queue of deliveries, bounded; overflow turns into a resync."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or MAILBOX_LIMIT
        self.items: deque[Item] = deque()
        self.stale: dict[str, None] = {}  # streams to resync, in order
        self.dropped = 0
        self.interrupted = False
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self.items) + len(self.stale)

    def put(self, stream_id: str, delivery: Delivery | None) -> None:
        if len(self.items) >= self.limit:
            # Too far behind: forget the backlog, catch up from a snapshot instead.
            self.dropped += len(self.items)
            for sid, _ in self.items:
                self.stale[sid] = None
            self.items.clear()
        self.items.append((stream_id, delivery))
        self._wake.set()

    def resync(self, stream_id: str) -> None:
        """Ask for a snapshot of ``stream_id`` before anything else queued."""
        self.stale[stream_id] = None
        self._wake.set()

    def interrupt(self) -> None:
        """Have ``get`` return None from now on (its reader is to stop)."""
        self.interrupted = True
        self._wake.set()

    async def get(self, timeout: float | None = None) -> Item | None:
        """The next item, or None after ``timeout`` seconds without one (or once
        interrupted)."""
        while not self.items and not self.stale:
            if self.interrupted:
                return None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return None
        if self.stale:
            stream_id = next(iter(self.stale))
            del self.stale[stream_id]
            return stream_id, None
        return self.items.popleft()


@dataclass
class _Shared:
    """A load shared by the sockets of a feed: when it started, and its result."""

    started: float
    future: asyncio.Future[Any]


@dataclass(eq=False)
class Feed:
    """This process's one subscription to one stream."""

    hub: Hub
    stream_id: str
    mailboxes: dict[Mailbox, None] = field(default_factory=dict)
    delivered: int = 0
    recent: deque[Delivery] = field(default_factory=lambda: deque(maxlen=RECENT_KEPT))
    # Whether the stream was last seen active (None: not known yet), and when it was heard.
    active: bool | None = None
    heard_at: float = 0.0
    channel: str = ""
    shared: dict[Any, _Shared] = field(default_factory=dict)
    # When the newest delivery that no longer fits in ``recent`` arrived.
    evicted_at: float = float("-inf")
    task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        layer = self.hub.layer
        self.channel = await layer.new_channel()
        await layer.group_add(stream_group(self.stream_id), self.channel)
        self.heard_at = asyncio.get_running_loop().time()
        self.task = asyncio.ensure_future(self.run())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.channel:
            try:
                await self.hub.layer.group_discard(stream_group(self.stream_id), self.channel)
            except Exception:  # the membership expires on its own
                logger.warning("Could not leave %s's group", self.stream_id, exc_info=True)

    async def run(self) -> None:
        """Receive the stream's messages and put each into every local mailbox."""
        layer, loop = self.hub.layer, asyncio.get_running_loop()
        receive: asyncio.Future[Any] | None = None
        try:
            while True:
                if receive is None:
                    receive = asyncio.ensure_future(layer.receive(self.channel))
                # Wait without cancelling the receive: a cancelled one may lose a message.
                idle = config().live_idle_check_seconds
                done, _ = await asyncio.wait({receive}, timeout=idle)
                if not done:
                    if self.active and loop.time() - self.heard_at >= idle:
                        await self.check_quiet()
                    continue
                try:
                    message = receive.result()
                except Exception:
                    logger.warning("Receiving %s's events failed", self.stream_id, exc_info=True)
                    await asyncio.sleep(1.0)
                    message = None
                receive = None
                event = message.get("event") if isinstance(message, dict) else None
                if isinstance(event, dict) and event.get("stream_id") == self.stream_id:
                    self.deliver(event)
        finally:
            if receive is not None:
                receive.cancel()

    def deliver(self, event: dict[str, Any]) -> None:
        now = asyncio.get_running_loop().time()
        delivery = Delivery(self.delivered, event, now)
        self.delivered += 1
        if len(self.recent) == self.recent.maxlen:
            self.evicted_at = self.recent[0].at
        self.recent.append(delivery)
        self.heard_at = now
        self.active = event.get("type") not in FINAL_EVENTS
        for mailbox in list(self.mailboxes):
            mailbox.put(self.stream_id, delivery)

    async def check_quiet(self) -> None:
        """The stream has been quiet: if it ended (its final event was lost), resync."""
        self.heard_at = asyncio.get_running_loop().time()
        if await database_sync_to_async(_finished)(self.stream_id):
            self.active = False
            self.shared.clear()  # what was loaded before is out of date
            for mailbox in list(self.mailboxes):
                mailbox.resync(self.stream_id)

    def share(
        self, key: Any, load: Callable[[], Awaitable[T]], not_before: float = float("-inf")
    ) -> asyncio.Future[T]:
        """``load()``, or the result of one begun less than SNAPSHOT_REUSE_SECONDS ago
        (and not before ``not_before``, loop time), provided every delivery since it
        began is still in ``recent``, for the caller to replay."""
        now = asyncio.get_running_loop().time()
        entry = self.shared.get(key)
        reusable = (
            entry is not None
            and not_before <= entry.started
            and now - entry.started < SNAPSHOT_REUSE_SECONDS
            and not (entry.future.done() and entry.future.exception() is not None)
            and self.replayable_since(entry.started)
        )
        if not reusable:
            entry = self.shared[key] = _Shared(now, asyncio.ensure_future(load()))
            entry.future.add_done_callback(_retrieve)
        assert entry is not None
        return entry.future

    def replayable_since(self, when: float) -> bool:
        """Whether ``recent`` still holds every delivery made after ``when``."""
        return self.evicted_at < when


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a failed shared load is reported to its awaiters, not logged


def _finished(stream_id: str) -> bool:
    return StreamingJob.objects.filter(pk=stream_id).exclude(status__in=ACTIVE_STATUSES).exists()


def saved_output_loader(stream_id: str, key: str) -> Callable[[], Awaitable[str]]:
    def read() -> str:
        value = Stage.objects.filter(stream__pk=stream_id, key=key).values_list("output", flat=True)
        return value.first() or ""

    return database_sync_to_async(read)


class Hub:
    """This process's feeds (one hub per event loop: layers' connections are per loop)."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.feeds: dict[str, asyncio.Future[Feed]] = {}

    async def join(self, stream_id: str, mailbox: Mailbox) -> Feed:
        """Subscribe ``mailbox`` to the stream; from return on it gets every event."""
        opening = self.feeds.get(stream_id)
        if opening is None:
            opening = self.feeds[stream_id] = asyncio.ensure_future(self._open(stream_id))
        try:
            feed = await asyncio.shield(opening)
        except Exception:
            if self.feeds.get(stream_id) is opening:
                del self.feeds[stream_id]  # the next join tries again
            raise
        if self.feeds.get(stream_id) is not opening:  # closed while we waited: again
            return await self.join(stream_id, mailbox)
        feed.mailboxes[mailbox] = None
        return feed

    async def _open(self, stream_id: str) -> Feed:
        feed = Feed(self, stream_id)
        await feed.open()
        return feed

    def feed(self, stream_id: str) -> Feed | None:
        opening = self.feeds.get(stream_id)
        if opening is None or not opening.done() or opening.exception() is not None:
            return None
        return opening.result()

    def leave(self, stream_id: str, mailbox: Mailbox) -> None:
        """Unsubscribe; the last socket to leave a stream closes its feed."""
        feed = self.feed(stream_id)
        if feed is None:
            return
        feed.mailboxes.pop(mailbox, None)
        if not feed.mailboxes:
            del self.feeds[stream_id]
            closing = asyncio.ensure_future(feed.close())
            _closing.add(closing)  # keep a reference until it is done
            closing.add_done_callback(_closing.discard)


_closing: set[asyncio.Future[None]] = set()
_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running loop (and so of this web process's server)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    layer = get_channel_layer()
    assert layer is not None, "CHANNEL_LAYERS is not configured"
    if found is None or found.layer is not layer:
        found = _hubs[loop] = Hub(layer)
    # With the in-memory layer, events must be sent on the loop we listen on.
    publisher.bind_server_loop(loop)
    return found
