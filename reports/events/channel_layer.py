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

This module is also the ONE place that knows channels_redis's private details (its
group key, sharding, per-key message mapping and its ``group_send`` Lua script): the
publisher's sync sender (reports/events/publisher.py) uses only the small hooks of
``BatchedRedisChannelLayer`` below, and tests/events/test_channels_redis_hooks.py
fails if a channels_redis upgrade changes any detail they rely on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from typing import Any

import redis
from channels_redis.core import BoundedQueue, RedisChannelLayer

logger = logging.getLogger(__name__)

# channels_redis's group_send script (a copy of the one inside
# ``RedisChannelLayer.group_send``), for one message: add it to each channel key that
# has room (capacity is per channel), refresh the key's expiry, count the overflows.
# KEYS: channel keys; ARGV: one message per key, one capacity per key, score, expiry.
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

ScriptCall = tuple[list[str], list[Any]]  # one EVALSHA of GROUP_SEND_LUA: KEYS, ARGV


def sync_client(host: dict[str, Any]) -> redis.Redis:
    """A plain Redis client for one of the channel layer's hosts (same options)."""
    options = {key: value for key, value in host.items() if key != "address"}
    return redis.Redis.from_url(host["address"], **options)


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

    # --- Hooks for a sync (plain Redis client) sender: channels_redis's private
    # details stay behind these. The sender runs exactly the commands group_send would.
    group_send_lua = GROUP_SEND_LUA
    group_send_sha = GROUP_SEND_SHA

    def sync_clients(self) -> list[redis.Redis]:
        """New plain Redis clients, one per shard (host), in shard order."""
        return [sync_client(dict(host)) for host in self.hosts]

    def group_key(self, group: str) -> bytes:
        """The Redis key of ``group``'s members (a sorted set scored by join time)."""
        key: bytes = self._group_key(group)
        return key

    def shard_for(self, name: str) -> int:
        """The index (into ``sync_clients()``) of the host holding ``name``'s key."""
        index: int = self.consistent_hash(name)
        return index

    def group_expired_before(self, now: float) -> int:
        """Members who joined before this (a ZREMRANGEBYSCORE max) have expired."""
        return int(now) - self.group_expiry

    def message_expired_before(self, now: float) -> int:
        """Messages scored before this (a ZREMRANGEBYSCORE max) have expired."""
        return int(now) - int(self.expiry)

    def sync_send_plan(
        self, channel_names: list[str], message: dict[str, Any], score: float
    ) -> dict[int, ScriptCall]:
        """Per shard, the KEYS and ARGV of one ``group_send_lua`` call adding
        ``message`` (scored ``score``) to ``channel_names``, as group_send builds them."""
        keys_by_index, message_for, capacity_for = self._map_channel_keys_to_connection(
            channel_names, message
        )
        plan: dict[int, ScriptCall] = {}
        for index, keys in keys_by_index.items():
            args = [message_for[k] for k in keys] + [capacity_for[k] for k in keys]
            plan[index] = (list(keys), [*args, score, self.expiry])
        return plan

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
