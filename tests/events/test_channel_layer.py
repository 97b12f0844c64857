"""The batched Redis channel layer against the machine's Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from channels_redis.core import RedisChannelLayer

from reports.events.channel_layer import BatchedRedisChannelLayer
from tests.conftest import async_wait_for, require_service

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def layers() -> AsyncIterator[tuple[BatchedRedisChannelLayer, RedisChannelLayer]]:
    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"test-layer-{uuid.uuid4().hex[:8]}"
    ours = BatchedRedisChannelLayer(hosts=[REDIS], prefix=prefix, capacity=1000)
    stock = RedisChannelLayer(hosts=[REDIS], prefix=prefix, capacity=1000)
    yield ours, stock
    await ours.flush()
    await ours.close_pools()
    await stock.close_pools()


async def test_every_socket_gets_every_group_message_in_order(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer],
) -> None:
    ours, stock = layers
    first, second = await ours.new_channel(), await ours.new_channel()
    for name in (first, second):
        await ours.group_add("g", name)
    received: dict[str, list[int]] = {first: [], second: []}

    async def listen(name: str) -> None:
        while len(received[name]) < 300:
            received[name].append((await ours.receive(name))["n"])

    listeners = [asyncio.ensure_future(listen(name)) for name in (first, second)]
    for n in range(300):  # sent by another process's (stock) layer
        await stock.group_send("g", {"type": "test.message", "n": n})
    await asyncio.wait_for(asyncio.gather(*listeners), 10)
    assert received[first] == received[second] == list(range(300))


async def test_a_socket_that_leaves_mid_receive_takes_nothing_from_the_others(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer],
) -> None:
    ours, stock = layers
    staying, leaving = await ours.new_channel(), await ours.new_channel()
    for name in (staying, leaving):
        await ours.group_add("g", name)
    waiting = asyncio.ensure_future(ours.receive(leaving))
    staying_receive = asyncio.ensure_future(ours.receive(staying))
    pump = await async_wait_for(lambda: ours._pumps.get(ours.non_local_name(staying)))
    await async_wait_for(lambda: staying in ours._waiting and leaving in ours._waiting)
    assert not pump.done()  # both wait on their queues; the pump is fetching from Redis
    waiting.cancel()
    await stock.group_send("g", {"type": "test.message", "n": 1})
    await stock.send(staying, {"type": "test.message", "n": 2})
    assert (await asyncio.wait_for(staying_receive, 5))["n"] == 1
    assert (await asyncio.wait_for(ours.receive(staying), 5))["n"] == 2
    assert waiting.cancelled()


async def test_a_stock_layer_receives_what_this_one_sends(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer],
) -> None:
    ours, stock = layers
    name = await stock.new_channel()
    await ours.send(name, {"type": "test.message", "n": 7})
    assert (await asyncio.wait_for(stock.receive(name), 5))["n"] == 7


async def test_channels_of_different_prefixes_in_one_process_each_get_theirs(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer],
) -> None:
    """``/healthz`` receives on ``healthz.<client>!...``, sockets on ``specific.<client>!...``:
    two Redis keys, each needs its own pump."""
    ours, stock = layers
    health, socket_ = await ours.new_channel("healthz."), await ours.new_channel()
    assert (await asyncio.gather(
        stock.send(health, {"type": "test.message", "n": 1}),
        asyncio.wait_for(ours.receive(health), 5),
    ))[1]["n"] == 1
    await stock.send(socket_, {"type": "test.message", "n": 2})
    assert (await asyncio.wait_for(ours.receive(socket_), 5))["n"] == 2


async def test_a_departed_socket_leaves_nothing_behind(
    layers: tuple[BatchedRedisChannelLayer, RedisChannelLayer],
) -> None:
    ours, _ = layers
    name = await ours.new_channel()
    waiting = asyncio.ensure_future(ours.receive(name))
    await async_wait_for(lambda: name in ours._waiting)
    waiting.cancel()
    await asyncio.wait([waiting])
    assert waiting.cancelled()
    inbox = ours._inboxes[ours.non_local_name(name)]
    assert name not in inbox and name not in ours._waiting and name not in ours._touched
