"""A bounded log of each stream's recent events, for clients that reconnect.

The channel layer delivers events only to whoever is listening at the time; an SSE
client that reconnects with ``Last-Event-ID`` must get what it missed. The publisher
appends every event here (``record``, one call in ``Publisher.publish``), and the SSE
view replays from it. ``since`` answers None when the log cannot prove it holds every
event after the client's last one (trimmed, expired, or kept by another process):
the client then gets a fresh snapshot instead, which is always right.

Embedded mode keeps an in-process ring buffer per stream (recent streams only).
With ``REDIS_URL`` the log is a Redis stream per stream (entry id = seq, capped with
MAXLEN, expiring after an hour of silence), written in batches by the publisher's
sender thread, so the engine's threads never wait for Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from typing import Any

from reports.domain.config import config

logger = logging.getLogger(__name__)


def _maxlen() -> int:
    return int(config().event_log_maxlen)


class MemoryEventLog:
    """A ring buffer of ``(seq, event)`` per stream, for the most recent streams."""

    def __init__(self, max_streams: int = 64) -> None:
        self.max_streams = max_streams
        self._logs: OrderedDict[str, deque[tuple[int, dict[str, Any]]]] = OrderedDict()
        self._lock = threading.Lock()

    def append(self, stream_id: str, event: dict[str, Any]) -> None:
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

    async def newest(self, stream_id: str) -> int | None:
        """The seq of the last logged event of the stream (None: none is logged)."""
        with self._lock:
            log = self._logs.get(stream_id)
            return log[-1][0] if log else None


class RedisEventLog:
    """A Redis stream per stream: ``XADD key <seq>-0 MAXLEN ~ n``, expiring.

    Written by the publisher's sender thread (reports/broadcast.py), one pipeline per
    batch of events; read by SSE views on their event loop.
    """

    def __init__(self, url: str, *, ttl_seconds: int = 3600) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self._sync_client: Any = None
        self._expiry_set: dict[str, float] = {}  # stream id -> when its TTL was last set
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

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

    def write(self, entries: list[tuple[str, dict[str, Any]]]) -> None:
        """Append ``(stream id, event)`` pairs, in order, in one round trip."""
        import redis

        if self._sync_client is None:
            self._sync_client = redis.Redis.from_url(self.url)
        pipe = self._sync_client.pipeline(transaction=False)
        for stream_id, event in entries:
            pipe.xadd(self.key(stream_id), {"e": json.dumps(event)}, id=f"{event['seq']}-0",
                      maxlen=_maxlen(), approximate=True)
        now = time.monotonic()
        for stream_id in {stream_id for stream_id, _ in entries}:
            # Refreshing the TTL once a minute keeps a live stream's log (an hour).
            if now - self._expiry_set.get(stream_id, -60.0) >= 60.0:
                self._expiry_set[stream_id] = now
                pipe.expire(self.key(stream_id), self.ttl_seconds)
        if len(self._expiry_set) > 10_000:  # forget streams long finished
            self._expiry_set = {k: t for k, t in self._expiry_set.items() if now - t < 60.0}
        # A lower id than the last one (a straggler) fails alone; ignore it.
        pipe.execute(raise_on_error=False)

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

    async def newest(self, stream_id: str) -> int | None:
        """The seq of the last logged event of the stream (None: none is logged)."""
        last = await self.client().xrevrange(self.key(stream_id), "+", "-", count=1)
        return _seq(last[0][0]) if last else None


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


_logs: dict[str, MemoryEventLog | RedisEventLog] = {}
_logs_lock = threading.Lock()


def event_log() -> MemoryEventLog | RedisEventLog:
    """The log for this process: Redis when ``REDIS_URL`` is set, else in memory."""
    url = config().redis_url
    log = _logs.get(url)
    if log is None:
        with _logs_lock:
            log = _logs.get(url)
            if log is None:
                log = _logs[url] = RedisEventLog(url) if url else MemoryEventLog()
    return log


def record(stream_id: Any, message: dict[str, Any]) -> None:
    """Log the event inside a published message (the in-memory publisher calls this)."""
    event = message.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("seq"), int):
        return
    try:
        log = event_log()
        if isinstance(log, RedisEventLog):
            log.write([(str(stream_id), event)])
        else:
            log.append(str(stream_id), event)
    except Exception:  # the log is a convenience; publishing must go on
        logger.warning("Could not log an event of %s", stream_id, exc_info=True)
