"""``GET /healthz``: a load balancer's check of this web process and its services.

200 ``{"status": "ok", ...}`` when the database answers and a message makes a round
trip through the channel layer (Redis in distributed mode); 503 otherwise, naming
the check that failed. Open to anonymous clients; it says nothing beyond ok/failed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

CHECK_TIMEOUT_SECONDS = 2.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "health.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "health.ping":
        raise RuntimeError("the channel layer returned another message")


async def _timed(check: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure is an unhealthy service, never a 500
        detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return {"ok": False, "error": detail}
    return {"ok": True, "ms": round(1000 * (time.monotonic() - started), 1)}


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """Check the database and the channel layer; 200 when both answer, else 503."""
    checks = {
        "database": await _timed(sync_to_async(_database)),
        "channel_layer": await _timed(_channel_layer),
    }
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )
