"""The one place that publishes stream events to the channel layer.

Each process keeps one long-lived event loop (and so one channel-layer connection)
for all its runner threads: ``async_to_sync(group_send)`` per call would build a new
loop and Redis connection every time (channels_redis #125, #130, #332). With the
in-memory layer, sends must run on the *server's* loop, the one its consumers wait
on (STACK.md); consumers bind it when they connect. Events of one stream are sent in
order; different streams are sent concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from reports.models import stream_group

logger = logging.getLogger(__name__)


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._server_loop: asyncio.AbstractEventLoop | None = None
        self._tails: dict[str, asyncio.Future[Any]] = {}
        self.sent = 0

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
            return self._own_loop

    def publish(self, stream_id: Any, message: dict[str, Any]) -> None:
        """Send ``message`` to the stream's group, without waiting (thread-safe)."""
        self.send_group(stream_group(stream_id), message)

    def send_group(self, group: str, message: dict[str, Any]) -> None:
        loop = self._loop()
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
        # Runs on the publishing loop: each send waits for the previous one of its group.
        previous = self._tails.get(group)
        task = asyncio.ensure_future(self._send_after(previous, group, message))
        self._tails[group] = task
        task.add_done_callback(lambda t: self._tails.pop(group, None) if self._tails.get(group) is t else None)

    async def _send_after(
        self, previous: asyncio.Future[Any] | None, group: str, message: dict[str, Any]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self.layer.group_send(group, message)
            self.sent += 1
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

        try:
            if asyncio.get_running_loop() is loop:
                return
        except RuntimeError:
            pass
        coro: Coroutine[Any, Any, None] = wait_all()
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


publisher = Publisher()
