"""Where streams run: an in-process thread pool (embedded) or Celery workers.

The embedded pool is bounded; one failing stream never takes it down. In embedded
mode a sweeper thread also recovers streams whose runner died, including right
after the web process restarts.
"""

from __future__ import annotations

import atexit
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)


_shutting_down = threading.Event()


def interrupt_for_shutdown() -> None:
    """The process is exiting: start no new runs, and stop the running ones at once
    (their streams stay active and resume on the next start) instead of waiting
    minutes for them to finish."""
    if _shutting_down.is_set():
        return
    _shutting_down.set()
    from reports.leases import keeper

    stopped = keeper.interrupt_all()
    if stopped:
        logger.info("Shutting down: %d running stream(s) will resume on the next start", stopped)


def _on_interpreter_exit() -> None:
    # Python joins the pool's worker threads before ``atexit`` handlers run, and would
    # wait for every running stream to finish; ``threading._register_atexit`` hooks run
    # first (latest registered first), so a Ctrl-C stops the server in a second or so.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(interrupt_for_shutdown)
    else:  # pragma: no cover - every supported Python has it
        atexit.register(interrupt_for_shutdown)


class EmbeddedRunner:
    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="stream-runner")
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, stream_id: Any) -> None:
        key = str(stream_id)
        if _shutting_down.is_set():
            return  # the sweeper of the next start picks it up
        with self._lock:
            if key in self._queued:
                return  # already waiting for a thread: the lease would refuse a twin anyway
            self._queued.add(key)
        self._pool.submit(self._run, key)

    def _run(self, stream_id: str) -> None:
        from reports.engine import run_stream

        with self._lock:
            self._queued.discard(stream_id)
        if _shutting_down.is_set():
            return
        try:
            close_old_connections()
            run_stream(stream_id)
        except Exception:
            logger.exception("Runner crashed on stream %s", stream_id)
        finally:
            connections.close_all()


_embedded: EmbeddedRunner | None = None
_embedded_lock = threading.Lock()


def embedded_runner() -> EmbeddedRunner:
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = EmbeddedRunner(settings.EMBEDDED_RUNNER_THREADS)
            _on_interpreter_exit()
        return _embedded


def enqueue(stream_id: Any) -> None:
    """Hand a stream to a runner (call after the transaction that created it commits)."""
    if settings.STREAM_RUNNER == "celery":
        from reports.tasks import run_stream_task

        run_stream_task.delay(str(stream_id))
    elif settings.STREAM_RUNNER == "embedded":
        embedded_runner().submit(stream_id)
    # "manual": tests and scripts call engine.run_stream themselves.


_sweeper: threading.Thread | None = None


def start_embedded_sweeper() -> None:
    """Recover dead runners' streams now and every SWEEP_INTERVAL_SECONDS (embedded)."""
    global _sweeper
    if settings.STREAM_RUNNER != "embedded" or (_sweeper and _sweeper.is_alive()):
        return
    _sweeper = threading.Thread(target=_sweep_forever, name="stream-sweeper", daemon=True)
    _sweeper.start()


def _sweep_forever() -> None:
    from reports.services import sweep_stale_streams

    # On start nothing in this process can be running yet: recover every stream
    # without a live lease at once, then keep watching.
    first = True
    stop = threading.Event()
    while True:
        try:
            recovered = sweep_stale_streams(pending_grace=0 if first else 60)
            if recovered:
                logger.info("Recovered %d stream(s): %s", len(recovered), recovered)
            first = False
        except Exception:
            logger.exception("Sweeping stale streams failed")
        finally:
            connections.close_all()
        stop.wait(settings.SWEEP_INTERVAL_SECONDS)
