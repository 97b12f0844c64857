"""The embedded runner: a bounded thread pool inside the web process.

One failing stream never takes the pool down. The process also recovers streams whose
runner died (a sweeper thread), right after a restart and every
``SWEEP_INTERVAL_SECONDS`` after that.
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from django.db import close_old_connections, connections

from reports.domain.config import config
from reports.runtime.engine import run_stream
from reports.runtime.runners.base import RunnerBackend, interrupt_for_shutdown, is_shutting_down
from reports.runtime.sweeper import sweep_stale_streams

logger = logging.getLogger(__name__)


def _on_interpreter_exit() -> None:
    # Python joins the pool's worker threads before ``atexit`` handlers run, and would
    # wait for every running stream to finish; ``threading._register_atexit`` hooks run
    # first (latest registered first), so a Ctrl-C stops the server in a second or so.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(interrupt_for_shutdown)
    else:  # pragma: no cover - every supported Python has it
        atexit.register(interrupt_for_shutdown)


class EmbeddedRunner(RunnerBackend):
    runs_in_process = True
    _sweeper: ClassVar[threading.Thread | None] = None

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(
            config().embedded_runner_threads, thread_name_prefix="stream-runner"
        )
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        _on_interpreter_exit()

    def enqueue(self, stream_id: uuid.UUID | str) -> None:
        key = str(stream_id)
        with self._lock:
            if key in self._queued:
                return  # already waiting for a thread: the lease would refuse a twin anyway
            self._queued.add(key)
        self._pool.submit(self._run, key)

    def _run(self, stream_id: str) -> None:
        with self._lock:
            self._queued.discard(stream_id)
        if is_shutting_down():
            return
        try:
            close_old_connections()
            run_stream(stream_id)
        except Exception:
            logger.exception("Runner crashed on stream %s", stream_id)
        finally:
            connections.close_all()

    def start(self) -> None:
        """Recover dead runners' streams now and every SWEEP_INTERVAL_SECONDS."""
        cls = type(self)
        if cls._sweeper is not None and cls._sweeper.is_alive():
            return
        cls._sweeper = threading.Thread(target=_sweep_forever, name="stream-sweeper", daemon=True)
        cls._sweeper.start()


def _sweep_forever() -> None:
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
        stop.wait(config().sweep_interval_seconds)
