"""Python-side subscription to a stream's events (tests, the CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections

from reports.domain.events import SNAPSHOT, stream_group
from reports.events.publisher import publisher
from reports.models import StreamingJob
from reports.streams.selectors import stream_snapshot


class Subscription:
    """Joins the stream's group on a private loop and calls ``callback`` per event."""

    def __init__(self, stream_id: Any, callback: Callable[[dict[str, Any]], None]) -> None:
        self.stream_id = str(stream_id)
        self.callback = callback
        self.ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="subscription", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.ready.wait(10)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._listen())
        self._loop.close()

    async def _listen(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        self._stop = asyncio.Event()
        publisher.bind_server_loop(self._loop)
        channel = await layer.new_channel()
        group = stream_group(self.stream_id)
        await layer.group_add(group, channel)
        # Joined: from here on no event is lost (they queue in the channel). The stream
        # may not be committed yet when subscribing inside its creating transaction.
        self.ready.set()
        snapshot = await self._wait_for_snapshot()
        if snapshot is None:
            await layer.group_discard(group, channel)
            return
        self.callback({"type": SNAPSHOT, "seq": snapshot["seq"], "stream": snapshot})
        try:
            while not self._stop.is_set():
                receive = asyncio.ensure_future(layer.receive(channel))
                stop = asyncio.ensure_future(self._stop.wait())
                done, _ = await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
                if receive in done:
                    self.callback(receive.result()["event"])
                else:
                    receive.cancel()
        finally:
            await layer.group_discard(group, channel)

    async def _wait_for_snapshot(self, timeout: float = 30.0) -> dict[str, Any] | None:
        assert self._stop is not None
        deadline = self._loop.time() + timeout
        while not self._stop.is_set() and self._loop.time() < deadline:
            snapshot = await sync_to_async(self._snapshot)()
            if snapshot is not None:
                return snapshot
            await asyncio.sleep(0.05)
        return None

    def _snapshot(self) -> dict[str, Any] | None:
        """The stream's snapshot, or None while its creating transaction is uncommitted."""
        try:
            stream = StreamingJob.objects.filter(pk=self.stream_id).first()
            return stream_snapshot(stream) if stream is not None else None
        finally:
            connections.close_all()


def subscribe(stream_id: Any, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Call ``callback`` with the snapshot, then every event of the stream, from a
    background thread; returns a function that unsubscribes."""
    subscription = Subscription(stream_id, callback)
    subscription.start()
    return subscription.stop
