"""The ASGI app for bench web processes: the site's app plus the bench pipeline.

Run as ``daphne bench.web_app:application`` (bench/watchers.py does). In embedded mode
the streams run inside this process, so the bench needs a way to start them at the
moment it chooses (once every watcher is connected): ``POST /bench/enqueue/`` with one
stream id per line hands them to this process's runner. Bench-only: the site's own
ASGI app (``reportsite.asgi``) has no such route. With ``BENCH_PROFILE=<path>`` the
process profiles its event loop (cProfile) and writes ``<path>.<pid>`` when it exits.
"""

from __future__ import annotations

import faulthandler
import os
import signal
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")
django.setup()

from bench.pipeline import register  # noqa: E402  (needs the app registry)
from reports.runtime.runners.base import get_runner  # noqa: E402
from reportsite.asgi import application as site  # noqa: E402
from reportsite.environment import env  # noqa: E402

register()

# ``kill -USR1 <pid>`` writes every thread's stack to the log (where is it stuck?).
faulthandler.register(signal.SIGUSR1, all_threads=True)

if env("BENCH_PROFILE"):  # where this process leaves its cProfile stats
    import atexit
    import cProfile

    _profiler = cProfile.Profile()
    _profiler.enable()

    def _dump() -> None:
        _profiler.disable()
        _profiler.dump_stats(f"{env('BENCH_PROFILE')}.{os.getpid()}")

    atexit.register(_dump)

ENQUEUE_PATH = "/bench/enqueue/"


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The site, plus the bench's enqueue route (loopback clients only)."""
    if scope["type"] == "http" and scope["path"] == ENQUEUE_PATH:
        await _enqueue(scope, receive, send)
        return
    await site(scope, receive, send)


async def _enqueue(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    client = (scope.get("client") or ("",))[0]
    allowed = scope["method"] == "POST" and client in {"127.0.0.1", "::1"}
    if allowed:
        runner = get_runner()
        for line in body.decode().split():
            runner.enqueue(line)
    await send({"type": "http.response.start", "status": 204 if allowed else 403,
                "headers": []})
    await send({"type": "http.response.body", "body": b""})
