"""A bounded log of each stream's recent events, for clients that reconnect.

The channel layer delivers events only to whoever is listening at the time; an SSE
client that reconnects with ``Last-Event-ID`` must get what it missed. The publisher
appends every event here (``record``, one call in ``Publisher.publish``), and the SSE
view replays from it. ``since`` answers None when the log cannot prove it holds every
event after the client's last one (trimmed, expired, or kept by another process):
the client then gets a fresh snapshot instead, which is always right.

Embedded mode keeps an in-process ring buffer per stream (recent streams only).
With ``REDIS_URL`` the log is a Redis stream per stream (entry id = seq, capped with
MAXLEN, expiring after an hour of silence), written in batches on the publisher's own
event loop, so the engine's threads never wait for Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

LoopFactory = Callable[[], asyncio.AbstractEventLoop | None]


def _maxlen() -> int:
    return int(settings.EVENT_LOG_MAXLEN)


class MemoryEventLog:
    """A ring buffer of ``(seq, event)`` per stream, for the most recent streams."""

    def __init__(self, max_streams: int = 64) -> None:
        self.max_streams = max_streams
        self._logs: OrderedDict[str, deque[tuple[int, dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()

    def append(
        self, stream_id: str, event: dict[str, Any], loop: LoopFactory | None = None
    ) -> None:
        seq = event["seq"]
        with self._lock:
            log = self._logs.get(stream_id)
            if log is None:
                log = self._logs[stream_id] = deque(maxlen=_maxlen())
                while len(self._logs) > self.max_streams:
                    self._logs.popitem(last=False)
            else:
                self._logs.move_to_end(stream_id)
            # Keep seq increasing: a straggler from a runner that lost its lease is not
            # logged (a client that saw it resyncs from a snapshot).
            if not log or log[-1][0] < seq:
                log.append((seq, event))

    def logged(self, stream_id: str) -> list[dict[str, Any]]:
        """Every event the log still holds for the stream (tests, debugging)."""
        with self._lock:
            return [event for _, event in self._logs.get(stream_id, ())]

    def read(self, stream_id: str, after: int) -> list[dict[str, Any]] | None:
        with self._lock:
            entries = list(self._logs.get(stream_id, ()))
        if not entries or entries[0][0] > after:
            return None
        return [event for seq, event in entries if seq > after]

    async def since(self, stream_id: str, after: int) -> list[dict[str, Any]] | None:
        """Every logged event after ``after``, or None if the log may have missed some."""
        return self.read(stream_id, after)


class RedisEventLog:
    """A Redis stream per stream: ``XADD key <seq>-0 MAXLEN ~ n``, batched, expiring."""

    def __init__(self, url: str, *, ttl_seconds: int = 3600) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self._pending: deque[tuple[str, int, str]] = deque()
        self._flushing = False
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._own_loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def key(stream_id: str) -> str:
        return f"reports:events:{stream_id}"

    def client(self) -> Any:
        """A client bound to the running loop (redis.asyncio clients are per loop)."""
        import redis.asyncio as redis_asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = redis_asyncio.Redis.from_url(self.url)
        return client

    def append(
        self, stream_id: str, event: dict[str, Any], loop: LoopFactory | None = None
    ) -> None:
        item = (stream_id, int(event["seq"]), json.dumps(event))
        with self._lock:
            self._pending.append(item)
            if self._flushing:
                return  # the running flush picks it up
            self._flushing = True
        target = (loop() if loop else None) or self._fallback_loop()
        target.call_soon_threadsafe(lambda: asyncio.ensure_future(self._flush()))

    def _fallback_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._own_loop is None or self._own_loop.is_closed():
                self._own_loop = asyncio.new_event_loop()
                threading.Thread(target=self._own_loop.run_forever, name="event-log",
                                 daemon=True).start()
            return self._own_loop

    async def _flush(self) -> None:
        """Write everything pending, in order, one pipeline per batch."""
        while True:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
                if not batch:
                    self._flushing = False
                    return
            try:
                pipe = self.client().pipeline(transaction=False)
                for stream_id, seq, data in batch:
                    pipe.xadd(self.key(stream_id), {"e": data}, id=f"{seq}-0",
                              maxlen=_maxlen(), approximate=True)
                for stream_id in {item[0] for item in batch}:
                    pipe.expire(self.key(stream_id), self.ttl_seconds)
                # A lower id than the last one (a straggler) fails alone; ignore it.
                await pipe.execute(raise_on_error=False)
            except Exception:
                logger.warning("Could not write %d events to the event log", len(batch),
                               exc_info=True)

    async def since(self, stream_id: str, after: int) -> list[dict[str, Any]] | None:
        """Every logged event after ``after``, or None if the log may have missed some."""
        client = self.client()
        key = self.key(stream_id)
        pipe = client.pipeline(transaction=False)
        pipe.xrange(key, "-", "+", count=1)
        pipe.xrange(key, f"{after + 1}-0", "+")
        first, rest = await pipe.execute()
        if not first or _seq(first[0][0]) > after:
            return None
        return [json.loads(fields[b"e"]) for _, fields in rest]


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


_logs: dict[str, MemoryEventLog | RedisEventLog] = {}
_logs_lock = threading.Lock()


def event_log() -> MemoryEventLog | RedisEventLog:
    """The log for this process: Redis when ``REDIS_URL`` is set, else in memory."""
    url = settings.REDIS_URL
    log = _logs.get(url)
    if log is None:
        with _logs_lock:
            log = _logs.get(url)
            if log is None:
                log = _logs[url] = RedisEventLog(url) if url else MemoryEventLog()
    return log


def record(stream_id: Any, message: dict[str, Any], loop: LoopFactory | None = None) -> None:
    """Log the event inside a published message (the publisher calls this; cheap)."""
    event = message.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("seq"), int):
        return
    try:
        event_log().append(str(stream_id), event, loop)
    except Exception:  # the log is a convenience; publishing must go on
        logger.warning("Could not log an event of %s", stream_id, exc_info=True)
