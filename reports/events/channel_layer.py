"""The Redis channel layer, receiving in batches.

channels_redis puts every message for one web process into ONE Redis key (the
process's ``specific.<client>!`` channel) and takes them out one per round trip, four
Redis commands each (a cleanup script, ``BZPOPMIN``, and a backup copy added and
removed so a cancelled receive loses nothing), with a lock and two new tasks per
receive for every socket. One Daphne process then drains about 700-900 messages/s and
a busy site fills the key until messages are dropped (bench/results/).

Here one pump task per process channel takes up to ``receive_batch`` messages per
``ZPOPMIN`` (blocking with ``BZPOPMIN`` only when the key is empty) and puts each into
the queue of every local channel it is addressed to; a socket's ``receive`` just
waits on its queue. Nothing is lost when a socket goes away mid-receive: the pump is
not the socket's task. A queue nobody has waited on for ``expiry`` seconds is
dropped, as its messages would have expired in Redis. A Redis error is logged and
retried with backoff, so sockets stay open through a Redis restart. Messages, keys and
``group_send`` are channels_redis's own, so processes on this layer and on the stock
one interoperate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from channels_redis.core import BoundedQueue, RedisChannelLayer

logger = logging.getLogger(__name__)


class BatchedRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args: Any, receive_batch: int = 500, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_batch = receive_batch
        # Per process channel (``specific.<client>!``, ``healthz.<client>!`` ...): the
        # queues of its local channels, and the pump that fills them.
        self._inboxes: dict[str, dict[str, BoundedQueue]] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._waiting: dict[str, int] = {}
        self._touched: dict[str, float] = {}

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel:  # a normal (cross-process) channel: channels_redis's way
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        process_channel = self.non_local_name(channel)
        inbox = self._inboxes.setdefault(process_channel, {})
        queue = inbox.get(channel)
        if queue is None:
            queue = inbox[channel] = BoundedQueue(self.capacity)
        loop = asyncio.get_running_loop()
        pump = self._pumps.get(process_channel)
        if pump is None or pump.done() or pump.get_loop() is not loop:
            self._pumps[process_channel] = loop.create_task(self._run_pump(process_channel))
        self._waiting[channel] = self._waiting.get(channel, 0) + 1
        try:
            message: dict[str, Any] = await queue.get()
        except asyncio.CancelledError:
            self._waiting[channel] -= 1
            if not self._waiting[channel]:  # the socket is closing: forget its channel
                del self._waiting[channel]
                inbox.pop(channel, None)
                self._touched.pop(channel, None)
            raise
        self._touched[channel] = loop.time()
        self._waiting[channel] -= 1
        if not self._waiting[channel]:
            del self._waiting[channel]
        return message

    async def _run_pump(self, process_channel: str) -> None:
        """Fetch one process channel's messages and route them, while anyone listens."""
        inbox = self._inboxes[process_channel]
        loop = asyncio.get_running_loop()
        failures, reaped = 0, loop.time()
        while inbox:
            try:
                batch = await self._fetch_batch(process_channel)
                failures = 0
            except Exception:
                failures += 1
                logger.warning("Receiving from Redis failed; retrying", exc_info=True)
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            now = loop.time()
            for targets, message in batch:
                for name in targets if isinstance(targets, list) else [targets]:
                    queue = inbox.get(name)
                    if queue is None:  # not waiting yet, or gone: kept until it expires
                        queue = inbox[name] = BoundedQueue(self.capacity)
                    queue.put_nowait(message)
                    self._touched[name] = now
            if now - reaped > self.expiry:
                reaped = now
                self._reap(inbox, now)

    def _reap(self, inbox: dict[str, BoundedQueue], now: float) -> None:
        """Forget channels nobody has waited on for ``expiry`` seconds (their messages
        have expired, as they would have in Redis): one-shot and departed receivers."""
        for name in list(inbox):
            if name not in self._waiting and now - self._touched.get(name, now) > self.expiry:
                del inbox[name]
                self._touched.pop(name, None)

    async def _fetch_batch(self, process_channel: str) -> deque[tuple[Any, dict[str, Any]]]:
        key = self.prefix + process_channel
        connection = self.connection(self.consistent_hash(process_channel))
        popped = await connection.zpopmin(key, self.receive_batch)
        if not popped:
            blocked = await connection.bzpopmin(key, timeout=self.brpop_timeout)
            popped = [blocked[1:]] if blocked else []
        batch: deque[tuple[Any, dict[str, Any]]] = deque()
        for member, _score in popped:
            message = self.deserialize(member)
            # group_send addresses one copy to all this process's channels in the group
            # (a list); send() to one channel.
            batch.append((message.pop("__asgi_channel__", process_channel), message))
        return batch
