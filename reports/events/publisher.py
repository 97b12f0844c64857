"""The one place that publishes stream events.

With the Redis channel layer (distributed mode) a process has ONE sender thread with
its own Redis connections, shared by all its runner threads: ``async_to_sync(
group_send)`` per call would build a new event loop and Redis connection every time
(channels_redis #125, #130, #332). The sender takes what is queued in batches and,
per batch, reads the groups' members in one pipelined round trip, then adds every
message to its channels (exactly as channels_redis's ``group_send`` would, through
the hooks of reports/events/channel_layer.py's layer, the one module that knows
channels_redis's private details) and to the stream's event log
(reports/events/eventlog.py) in one more. It uses the plain (not asyncio)
Redis client: per message that costs about a quarter of the CPU, which is what lets
one worker process carry hundreds of streams (bench/results/).

With the in-memory layer, sends must run on the *server's* loop, the one its
consumers wait on (docs/architecture.md, "Live updates"); consumers bind it when they
connect. Events of one stream are sent in order; different streams are sent concurrently.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

import redis
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

from reports.domain.events import envelope, stream_group
from reports.events import eventlog
from reports.events.channel_layer import BatchedRedisChannelLayer, ScriptCall

logger = logging.getLogger(__name__)

MAX_BATCH = 500
# After the first message of a batch, wait this long for more: Redis round trips and
# the client's per-call work are paid per batch, so a busy worker sends ~20 messages
# per batch instead of one or two, for 10 ms of latency.
LINGER_SECONDS = 0.01
# How long a process that exits waits for what it queued to be sent.
EXIT_FLUSH_SECONDS = 5.0
# Trimming a group's expired members is housekeeping: once a minute per group is enough.
GROUP_TRIM_SECONDS = 60.0

# What the sender queues: (stream id, or "" for a group of no stream; message; group).
Queued = tuple[str, dict[str, Any], str]


class RedisSender:
    """One thread sending ``(stream id, message)`` pairs to a BatchedRedisChannelLayer's
    Redis, through that layer's sync hooks only (channels_redis's private details stay
    in reports/events/channel_layer.py)."""

    def __init__(self, layer: BatchedRedisChannelLayer) -> None:
        self.layer = layer
        self.clients = layer.sync_clients()
        self.log = eventlog.event_log()
        self.queue: queue.SimpleQueue[Queued] = queue.SimpleQueue()
        self.queued = self.sent = 0
        self._score = 0.0
        self._trimmed: dict[str, float] = {}  # group -> when its expired members went
        self._done = threading.Condition()
        self.thread = threading.Thread(target=self.run, name="stream-publisher", daemon=True)
        self.thread.start()

    def put(self, stream_id: str, message: dict[str, Any], group: str | None = None) -> None:
        """Queue ``message`` for the stream's group (or ``group``, with no stream)."""
        with self._done:
            self.queued += 1
        self.queue.put((stream_id, message, group or stream_group(stream_id)))

    def run(self) -> None:
        while True:
            batch = [self.queue.get()]
            time.sleep(LINGER_SECONDS)
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.send_batch(batch)
            except Exception:
                logger.exception("Could not publish %d message(s)", len(batch))
            with self._done:
                self.sent += len(batch)
                self._done.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is sent."""
        with self._done:
            target = self.queued
            return self._done.wait_for(lambda: self.sent >= target, timeout)

    def send_batch(self, batch: list[Queued]) -> None:
        layer = self.layer
        now = time.time()
        groups = [group for _, _, group in batch]
        members = self.group_members(set(groups), now)
        calls: dict[int, list[ScriptCall]] = defaultdict(list)
        for group, (_, message, _) in zip(groups, batch, strict=True):
            # Scores only ever rise, so each channel pops its messages in publish order.
            self._score = max(now, self._score + 1e-6)
            names = members.get(group)
            if not names:
                continue  # nobody is watching
            for index, call in layer.sync_send_plan(names, message, self._score).items():
                calls[index].append(call)
        for index, index_calls in calls.items():
            self.add_messages(index, index_calls, now)
        if isinstance(self.log, eventlog.RedisEventLog):
            events = [(stream_id, message.get("event")) for stream_id, message, _ in batch]
            self.log.write([(sid, e) for sid, e in events if isinstance(e, dict) and "seq" in e])

    def group_members(self, groups: set[str], now: float) -> dict[str, list[str]]:
        layer = self.layer
        by_index: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            by_index[layer.shard_for(group)].append(group)
        members: dict[str, list[str]] = {}
        for index, index_groups in by_index.items():
            pipe = self.clients[index].pipeline(transaction=False)
            for group in index_groups:
                key = layer.group_key(group)
                if now - self._trimmed.get(group, 0.0) > GROUP_TRIM_SECONDS:
                    self._trimmed[group] = now
                    pipe.zremrangebyscore(key, min=0, max=layer.group_expired_before(now))
                pipe.zrange(key, 0, -1)
            results = [r for r in pipe.execute() if isinstance(r, list)]  # the ZRANGEs
            for group, names in zip(index_groups, results, strict=True):
                members[group] = [name.decode("utf8") for name in names]
        if len(self._trimmed) > 10 * MAX_BATCH:  # forget streams long finished
            self._trimmed = {g: t for g, t in self._trimmed.items() if now - t < GROUP_TRIM_SECONDS}
        return members

    def add_messages(self, index: int, calls: list[ScriptCall], now: float) -> None:
        layer = self.layer
        client = self.clients[index]
        pipe = client.pipeline(transaction=False)
        for key in dict.fromkeys(k for keys, _ in calls for k in keys):
            pipe.zremrangebyscore(key, min=0, max=layer.message_expired_before(now))
        for keys, args in calls:
            pipe.evalsha(layer.group_send_sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
        if any(isinstance(result, redis.exceptions.NoScriptError) for result in results):
            # First use on this server (or its script cache was flushed): load, resend.
            client.script_load(layer.group_send_lua)
            retry = client.pipeline(transaction=False)
            for (keys, args), result in zip(calls, results[-len(calls):], strict=True):
                if isinstance(result, redis.exceptions.NoScriptError):
                    retry.evalsha(layer.group_send_sha, len(keys), *keys, *args)
            results = retry.execute(raise_on_error=False)
        dropped = 0
        for result in results:
            if isinstance(result, Exception):
                logger.error("Publishing to Redis failed: %s", result)
            elif isinstance(result, int) and result > 0:
                dropped += result
        if dropped:
            logger.warning("%d message(s) dropped: their channels were over capacity", dropped)


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._tails: dict[str, asyncio.Future[Any]] = {}
        self._sender: RedisSender | None = None
        self._sent = 0

    @property
    def sent(self) -> int:
        """Messages handed to the channel layer so far (this process)."""
        return self._sent + (self._sender.sent if self._sender else 0)

    @property
    def layer(self) -> BaseChannelLayer:
        layer = get_channel_layer()
        assert layer is not None, "CHANNEL_LAYERS is not configured"
        return layer

    def bind_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called from consumers: the loop in-memory-layer sends must run on."""
        if isinstance(self.layer, InMemoryChannelLayer):
            self._server_loop = loop

    def _redis_sender(self) -> RedisSender | None:
        layer = self.layer
        if not isinstance(layer, RedisChannelLayer):
            return None
        if not isinstance(layer, BatchedRedisChannelLayer):
            raise TypeError(
                "The Redis channel layer must be "
                "reports.events.channel_layer.BatchedRedisChannelLayer (CHANNEL_LAYERS)"
            )
        sender = self._sender
        if sender is None or sender.layer is not layer:
            with self._lock:
                sender = self._sender
                if sender is None or sender.layer is not layer:
                    sender = self._sender = RedisSender(layer)
                    # A process that lives for one change (manage.py shell, a command)
                    # sends what it queued before it exits: its thread is a daemon.
                    atexit.register(sender.flush, EXIT_FLUSH_SECONDS)
        return sender

    def _memory_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self._server_loop
        # Nobody can be listening on a loop that is gone.
        return loop if loop is not None and not loop.is_closed() else None

    def publish(self, stream_id: Any, message: dict[str, Any]) -> None:
        """Send ``message`` to the stream's group, without waiting (thread-safe)."""
        sender = self._redis_sender()
        if sender is not None:
            sender.put(str(stream_id), message)  # the channel layer and the event log
            return
        eventlog.record(stream_id, message)  # for SSE clients that reconnect
        self._send_in_memory(stream_group(stream_id), message)

    def publish_to_group(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to a group that is not a stream's (nothing is logged)."""
        sender = self._redis_sender()
        if sender is not None:
            sender.put("", message, group)
        else:
            self._send_in_memory(group, message)

    def _send_in_memory(self, group: str, message: dict[str, Any]) -> None:
        loop = self._memory_loop()
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._chain(group, message)
        else:
            loop.call_soon_threadsafe(self._chain, group, message)

    def _chain(self, group: str, message: dict[str, Any]) -> None:
        # Runs on the server's loop: each send waits for the previous one of its group.
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
        if self._sender is not None:
            self._sender.flush(timeout)
        loop = self._memory_loop()
        if loop is None:
            return
        try:
            if asyncio.get_running_loop() is loop:
                return
        except RuntimeError:
            pass

        async def wait_all() -> None:
            pending = list(self._tails.values())
            if pending:
                await asyncio.wait(pending, timeout=timeout)

        coro: Coroutine[Any, Any, None] = wait_all()
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


publisher = Publisher()


def publish_on_commit(stream_id: Any, event: dict[str, Any]) -> None:
    """Publish an event from outside a runner (only when no runner holds the stream),
    once the transaction that changed the stream commits."""
    event = {**event, "stream_id": str(stream_id)}
    transaction.on_commit(lambda: publisher.publish(stream_id, envelope(event)))
