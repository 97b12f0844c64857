"""Python-side subscription to a stream's events (tests, the CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from reports.broadcast import publisher
from reports.models import StreamingJob, stream_group
from reports.selectors import stream_snapshot


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
        snapshot = await sync_to_async(self._snapshot)()
        self.callback({"type": "snapshot", "seq": snapshot["seq"], "stream": snapshot})
        self.ready.set()
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

    def _snapshot(self) -> dict[str, Any]:
        from django.db import connections

        try:
            return stream_snapshot(StreamingJob.objects.get(pk=self.stream_id))
        finally:
            connections.close_all()
