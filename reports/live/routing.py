from __future__ import annotations

from django.urls import path

from reports.live.consumers import StreamEventsConsumer
from reports.live.pages import LivePageConsumer

websocket_urlpatterns = [
    path("ws/streams/<str:stream_id>/", StreamEventsConsumer.as_asgi()),
    path("ws/live/", LivePageConsumer.as_asgi()),
]
