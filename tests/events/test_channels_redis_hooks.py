"""Every channels_redis private detail the sync sender relies on, pinned.

reports/events/channel_layer.py is the one module that touches channels_redis's
private API (``_group_key``, ``_map_channel_keys_to_connection``, ``consistent_hash``,
the Lua script copied out of ``group_send``); the publisher's sender uses only its
hooks. These tests fail if a channels_redis upgrade changes any of it.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from channels_redis.core import RedisChannelLayer

from reports.domain.events import stream_group
from reports.events import channel_layer
from reports.events.channel_layer import BatchedRedisChannelLayer
from reports.events.publisher import RedisSender
from tests.conftest import require_service

# Two databases of the machine's Redis stand in for two shards (hosts).
SHARDS = ["redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/15"]


def normalised(text: str) -> str:
    return " ".join(text.split())


def group_send_source() -> str:
    return normalised(inspect.getsource(RedisChannelLayer.group_send))


def on_both_shards(names: list[str], each: int) -> list[str]:
    """``each`` names of ``names`` per shard of a two-host layer."""
    layer = BatchedRedisChannelLayer(hosts=SHARDS)
    by_shard: dict[int, list[str]] = {0: [], 1: []}
    for name in names:
        by_shard[layer.shard_for(name)].append(name)
    assert all(len(found) >= each for found in by_shard.values())
    return by_shard[0][:each] + by_shard[1][:each]


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.fixture
def redis_up() -> None:
    require_service("Redis", "127.0.0.1", 6379)


@pytest.fixture
def prefix() -> str:
    return f"test-hooks-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def clients(redis_up: None, prefix: str) -> Iterator[list[redis.Redis]]:
    found = [redis.Redis.from_url(url) for url in SHARDS]
    yield found
    for client in found:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()


@pytest.fixture
async def layers(
    clients: list[redis.Redis], prefix: str
) -> AsyncIterator[tuple[BatchedRedisChannelLayer, RedisChannelLayer]]:
    ours = BatchedRedisChannelLayer(hosts=SHARDS, prefix=prefix, capacity=1000)
    stock = RedisChannelLayer(hosts=SHARDS, prefix=prefix, capacity=1000)
    yield ours, stock
    await ours.flush()
    await ours.close_pools()
    await stock.close_pools()


# --- the copied script and the commands around it ---


def test_the_copied_lua_script_is_the_one_inside_group_send() -> None:
    source = inspect.getsource(RedisChannelLayer.group_send)
    found = re.search(r'group_send_lua = """(.*?)"""', source, re.S)
    assert found, "channels_redis's group_send no longer defines group_send_lua"
    assert normalised(found.group(1)) == normalised(channel_layer.GROUP_SEND_LUA)


def test_the_script_sha_is_the_sha_redis_gives_it(clients: list[redis.Redis]) -> None:
    assert clients[0].script_load(channel_layer.GROUP_SEND_LUA) == channel_layer.GROUP_SEND_SHA
    assert BatchedRedisChannelLayer.group_send_sha == channel_layer.GROUP_SEND_SHA
    assert BatchedRedisChannelLayer.group_send_lua == channel_layer.GROUP_SEND_LUA


def test_group_send_runs_the_commands_the_sender_copies() -> None:
    """The sender trims the group and each channel key as group_send does, reads the
    members with ZRANGE, and ends ARGV with (score, expiry)."""
    source = group_send_source()
    for expected in (
        "key = self._group_key(group)",
        "connection = self.connection(self.consistent_hash(group))",
        "zremrangebyscore( key, min=0, max=int(time.time()) - self.group_expiry )",
        "await connection.zrange(key, 0, -1)",
        "= self._map_channel_keys_to_connection(channel_names, message)",
        "zremrangebyscore( key, min=0, max=int(time.time()) - int(self.expiry) )",
        "channel_keys_to_message[channel_key] for channel_key in channel_redis_keys",
        "channel_keys_to_capacity[channel_key] for channel_key in channel_redis_keys",
        "args += [time.time(), self.expiry]",
        "len(channel_redis_keys), *channel_redis_keys, *args",
    ):
        assert expected in source, f"channels_redis's group_send changed: {expected!r}"


def test_expiry_hooks_give_group_sends_thresholds() -> None:
    layer = BatchedRedisChannelLayer(hosts=SHARDS, expiry=60, group_expiry=86400)
    assert layer.group_expired_before(1000.7) == 1000 - 86400
    assert layer.message_expired_before(1000.7) == 1000 - 60


# --- the private methods the hooks wrap ---


def test_the_private_methods_keep_the_signatures_the_hooks_call() -> None:
    assert parameters(RedisChannelLayer._group_key) == ["self", "group"]
    assert parameters(RedisChannelLayer.consistent_hash) == ["self", "value"]
    assert parameters(RedisChannelLayer._map_channel_keys_to_connection) == [
        "self", "channel_names", "message",
    ]


async def test_group_key_is_where_a_stock_group_add_puts_members(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer], clients: list[redis.Redis]
) -> None:
    ours, stock = layers
    groups = on_both_shards([f"g{n}" for n in range(100)], 3)
    for group in groups:
        await stock.group_add(group, "specific.abc!def")
    assert {ours.shard_for(group) for group in groups} == {0, 1}
    for group in groups:
        key = ours.group_key(group)
        assert isinstance(key, bytes)
        shard = ours.shard_for(group)
        assert clients[shard].zrange(key, 0, -1) == [b"specific.abc!def"]
        assert not clients[1 - shard].exists(key)


def test_shard_for_is_in_range_and_stable() -> None:
    layer = BatchedRedisChannelLayer(hosts=SHARDS)
    shards = [layer.shard_for(f"name{n}") for n in range(50)]
    assert set(shards) == {0, 1}
    assert shards == [layer.shard_for(f"name{n}") for n in range(50)]
    assert len(layer.sync_clients()) == 2


def test_sync_send_plan_is_one_script_call_per_shard_as_group_send_builds_it() -> None:
    layer = BatchedRedisChannelLayer(hosts=SHARDS, prefix="p", capacity=7, expiry=60)
    # Two local channels of one process share a key; a normal channel has its own.
    processes = on_both_shards([f"specific.p{n}!" for n in range(100)], 1)
    names = [processes[0] + "x", processes[0] + "y", processes[1] + "z", "plain"]
    plan = layer.sync_send_plan(names, {"type": "t", "n": 1}, 123.5)
    keys_seen: dict[str, int] = {}
    for index, (keys, args) in plan.items():
        assert index in (0, 1)
        assert len(args) == 2 * len(keys) + 2
        assert args[-2:] == [123.5, 60]
        for position, key in enumerate(keys):
            keys_seen[key] = index
            message = layer.deserialize(args[position])
            assert message["type"] == "t" and message["n"] == 1
            assert args[len(keys) + position] == 7
            expected = [n for n in names if layer.prefix + layer.non_local_name(n) == key]
            assert message["__asgi_channel__"] == expected
    assert set(keys_seen) == {"p" + processes[0], "p" + processes[1], "pplain"}
    assert set(plan) == {0, 1}  # the two processes' keys are on different shards
    for key, index in keys_seen.items():
        assert index == layer.shard_for(key[len("p"):])


# --- end to end: our sync sender and a stock layer on two shards ---


async def test_a_stock_consumer_receives_what_the_sync_sender_publishes(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer], settings: Any
) -> None:
    settings.REDIS_URL = ""  # the event log stays in memory: only the channel layer
    ours, stock = layers
    sender = RedisSender(ours)
    candidates = [stream_group(uuid.UUID(int=n)) for n in range(100)]  # apart by prefix
    streams = [group.removeprefix("stream.") for group in on_both_shards(candidates, 3)]
    channels = {stream: [await stock.new_channel() for _ in range(2)] for stream in streams}
    for stream, names in channels.items():
        for name in names:
            await stock.group_add(stream_group(stream), name)
    assert {ours.shard_for(stream_group(s)) for s in streams} == {0, 1}
    for n in range(3):
        for stream in streams:
            sender.put(stream, {"type": "test.message", "stream": stream, "n": n})
    assert await asyncio.to_thread(sender.flush, 10)
    for stream, names in channels.items():
        for name in names:
            got = [await asyncio.wait_for(stock.receive(name), 5) for _ in range(3)]
            assert [(m["stream"], m["n"]) for m in got] == [(stream, n) for n in range(3)]


async def test_our_layer_receives_what_a_stock_layer_group_sends(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer],
) -> None:
    ours, stock = layers
    groups = on_both_shards([f"g{n}" for n in range(100)], 3)
    names = {group: await ours.new_channel() for group in groups}
    for group, name in names.items():
        await ours.group_add(group, name)
    for group in groups:
        await stock.group_send(group, {"type": "test.message", "group": group})
    for group, name in names.items():
        assert (await asyncio.wait_for(ours.receive(name), 5))["group"] == group

