"""The one place that publishes stream events to the channel layer.

Each process keeps one long-lived event loop (and so one channel-layer connection)
for all its runner threads: ``async_to_sync(group_send)`` per call would build a new
loop and Redis connection every time (channels_redis #125, #130, #332). With the
in-memory layer, sends must run on the *server's* loop, the one its consumers wait
on (STACK.md); consumers bind it when they connect. Events of one stream are sent in
order; different streams are sent concurrently.

With the Redis layer, messages are queued and sent in batches (``RedisBatcher``): two
pipelined round trips per batch instead of four per message, so one loop keeps up
with hundreds of streams even while the worker's threads compete for the GIL
(bench/results/). Messages reach Redis exactly as ``group_send`` would put them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Coroutine
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from redis.exceptions import NoScriptError

from reports import eventlog
from reports.models import stream_group

logger = logging.getLogger(__name__)

# channels_redis's group_send script, for one message: add it to each channel that has
# room (capacity is per channel), refresh the channel's expiry, count the overflows.
GROUP_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""
GROUP_SEND_SHA = hashlib.sha1(GROUP_SEND_LUA.encode()).hexdigest()
MAX_BATCH = 500


class RedisBatcher:
    """Sends queued ``(group, message)`` pairs to a RedisChannelLayer in batches.

    Per batch: one pipeline reads every group's members, one pipeline adds every
    message to its channels. Scores rise by a microsecond per message so a channel
    pops them in publish order. Runs on the publisher's loop only.
    """

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer
        self.queue: deque[tuple[str, dict[str, Any]]] = deque()
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.sent = 0
        self.task: asyncio.Future[None] | None = None

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(len(self.queue), MAX_BATCH))]
                try:
                    await self.send_batch(batch)
                    self.sent += len(batch)
                except Exception:
                    logger.exception("Could not publish %d message(s)", len(batch))
            if not self.queue:
                self.idle.set()

    async def send_batch(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        layer = self.layer
        now = time.time()
        members = await self.group_members({group for group, _ in batch}, now)
        calls: dict[int, list[tuple[list[bytes], list[Any]]]] = defaultdict(list)
        for position, (group, message) in enumerate(batch):
            names = members.get(group)
            if not names:
                continue  # nobody is watching
            keys_by_index, message_for, capacity_for = layer._map_channel_keys_to_connection(
                names, message
            )
            for index, keys in keys_by_index.items():
                args = [message_for[k] for k in keys] + [capacity_for[k] for k in keys]
                calls[index].append((keys, [*args, now + position * 1e-6, layer.expiry]))
        for index, index_calls in calls.items():
            await self.add_messages(index, index_calls, now)

    async def group_members(self, groups: set[str], now: float) -> dict[str, list[str]]:
        layer = self.layer
        by_index: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            by_index[layer.consistent_hash(group)].append(group)
        members: dict[str, list[str]] = {}
        for index, index_groups in by_index.items():
            pipe = layer.connection(index).pipeline(transaction=False)
            for group in index_groups:
                key = layer._group_key(group)
                pipe.zremrangebyscore(key, min=0, max=int(now) - layer.group_expiry)
                pipe.zrange(key, 0, -1)
            results = await pipe.execute()
            for group, names in zip(index_groups, results[1::2], strict=True):
                members[group] = [name.decode("utf8") for name in names]
        return members

    async def add_messages(
        self, index: int, calls: list[tuple[list[bytes], list[Any]]], now: float
    ) -> None:
        connection = self.layer.connection(index)
        pipe = connection.pipeline(transaction=False)
        for key in dict.fromkeys(k for keys, _ in calls for k in keys):
            pipe.zremrangebyscore(key, min=0, max=int(now) - int(self.layer.expiry))
        for keys, args in calls:
            pipe.evalsha(GROUP_SEND_SHA, len(keys), *keys, *args)
        results = await pipe.execute(raise_on_error=False)
        if any(isinstance(result, NoScriptError) for result in results):
            # First use on this server (or its script cache was flushed): load, resend.
            await connection.script_load(GROUP_SEND_LUA)
            retry = connection.pipeline(transaction=False)
            for (keys, args), result in zip(calls, results[-len(calls):], strict=True):
                if isinstance(result, NoScriptError):
                    retry.evalsha(GROUP_SEND_SHA, len(keys), *keys, *args)
            results = await retry.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                logger.error("Publishing to Redis failed: %s", result)
            elif isinstance(result, int) and result > 0:
                logger.warning("%s channel(s) over capacity: a message was dropped", result)


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._tails: dict[str, asyncio.Future[Any]] = {}
        self._batcher: RedisBatcher | None = None
        self._sent = 0

    @property
    def sent(self) -> int:
        """Messages handed to the channel layer so far (this process)."""
        return self._sent + (self._batcher.sent if self._batcher else 0)

    @property
    def layer(self) -> BaseChannelLayer:
        layer = get_channel_layer()
        assert layer is not None, "CHANNEL_LAYERS is not configured"
        return layer

    def bind_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called from consumers: the loop in-memory-layer sends must run on."""
        if isinstance(self.layer, InMemoryChannelLayer):
            self._server_loop = loop

    def _loop(self) -> asyncio.AbstractEventLoop | None:
        if isinstance(self.layer, InMemoryChannelLayer):
            loop = self._server_loop
            # Nobody can be listening on a loop that is gone.
            return loop if loop is not None and not loop.is_closed() else None
        with self._lock:
            if self._own_loop is None or self._own_loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="stream-publisher", daemon=True
                )
                thread.start()
                self._own_loop = loop
                self._batcher = None
                if isinstance(self.layer, RedisChannelLayer):
                    self._batcher = self._start_batcher(loop)
            return self._own_loop

    def _start_batcher(self, loop: asyncio.AbstractEventLoop) -> RedisBatcher:
        async def start() -> RedisBatcher:
            batcher = RedisBatcher(self.layer)
            batcher.task = asyncio.ensure_future(batcher.run())
            return batcher

        return asyncio.run_coroutine_threadsafe(start(), loop).result(5)

    def publish(self, stream_id: Any, message: dict[str, Any]) -> None:
        """Send ``message`` to the stream's group, without waiting (thread-safe)."""
        eventlog.record(stream_id, message, self._loop)  # for SSE clients that reconnect
        self.send_group(stream_group(stream_id), message)

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        loop = self._loop()
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        batcher = self._batcher
        if batcher is not None and loop is self._own_loop:
            batcher.queue.append((group, message))  # deque.append is thread-safe
            if running is loop:
                self._wake(batcher)
            else:
                loop.call_soon_threadsafe(self._wake, batcher)
        elif running is loop:
            self._chain(group, message)
        else:
            loop.call_soon_threadsafe(self._chain, group, message)

    @staticmethod
    def _wake(batcher: RedisBatcher) -> None:
        batcher.idle.clear()
        batcher.wake.set()

    def _chain(self, group: str, message: dict[str, Any]) -> None:
        # Runs on the publishing loop: each send waits for the previous one of its group.
        previous = self._tails.get(group)
        task = asyncio.ensure_future(self._send_after(previous, group, message))
        self._tails[group] = task
        task.add_done_callback(
            lambda t: self._tails.pop(group, None) if self._tails.get(group) is t else None
        )

    async def _send_after(
        self, previous: asyncio.Future[Any] | None, group: str, message: dict[str, Any]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self.layer.group_send(group, message)
            self._sent += 1
        except Exception:
            logger.exception("Could not publish to %s", group)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything published so far is sent (tests, shutdown)."""
        loop = self._loop()
        if loop is None:
            return

        async def wait_all() -> None:
            pending = list(self._tails.values())
            if pending:
                await asyncio.wait(pending, timeout=timeout)
            if self._batcher is not None:
                await asyncio.wait_for(self._batcher.idle.wait(), timeout)

        try:
            if asyncio.get_running_loop() is loop:
                return
        except RuntimeError:
            pass
        coro: Coroutine[Any, Any, None] = wait_all()
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


publisher = Publisher()
