"""The WebSocket paths: the JSON contract, our pages' socket, and a refusal for the
rest (without it an unknown path is a ValueError, an HTTP 500 with a traceback)."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from reports.live.close_codes import NOT_FOUND
from reports.live.consumers import StreamEventsConsumer
from reports.live.pages import LivePageConsumer


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Any path no consumer serves: closed with 4404 before the handshake is accepted."""

    async def connect(self) -> None:
        await self.close(code=NOT_FOUND)


websocket_urlpatterns = [
    path("ws/streams/<str:stream_id>/", StreamEventsConsumer.as_asgi()),
    path("ws/live/", LivePageConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
