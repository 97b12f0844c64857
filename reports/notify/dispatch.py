"""Where deliveries and notices are sent from: the same machinery that runs streams.

The runner backend decides: the embedded runner's process sends them from a few
threads of its own, woken when a row is recorded and when the next retry comes due,
and sweeps the table on start (so a restart finds what was pending); with Celery a
task sends each row and beat sends whatever is due (retries, and rows a dead worker
left); with the manual runner nothing is sent until code calls ``send_due``.
The database is the queue: a lost wake-up only delays a row until the next sweep.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from django.db import close_old_connections, connections
from django.utils import timezone

from reports.domain.config import config
from reports.notify import sending, tasks
from reports.runtime.runners import get_runner
from reports.runtime.runners.celery import CeleryRunner

logger = logging.getLogger(__name__)


class Dispatcher:
    """Sends nothing by itself (the manual runner): tests and scripts call ``send_due``."""

    def wake(self) -> None:
        """Rows were recorded or came due: send what is due soon."""

    def start(self) -> None:
        """The process is serving: start sending (embedded mode)."""


class EmbeddedDispatcher(Dispatcher):
    """A sweeper thread that hands due rows to a few sender threads."""

    SENDER_THREADS = 4

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._rows: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        self.start()
        self._wake.set()

    def start(self) -> None:
        with self._lock:
            if self._threads:
                return
            # Daemon threads: a receiver that never answers cannot hold up an exit.
            self._threads = [threading.Thread(target=self._sweep, name="notify-sweeper",
                                              daemon=True)]
            self._threads += [
                threading.Thread(target=self._send, name=f"notify-sender-{n}", daemon=True)
                for n in range(self.SENDER_THREADS)
            ]
            for thread in self._threads:
                thread.start()

    def _sweep(self) -> None:
        first = True
        while True:
            try:
                if first:  # nothing of this process can be sending yet
                    sending.release_claims()
                    first = False
                sending.send_due(lambda kind, pk: self._rows.put((kind, pk)))
                self._wake.wait(self._timeout())
                self._wake.clear()
            except Exception:
                logger.exception("Sending due notifications failed")
                self._wake.wait(config().sweep_interval_seconds)
            finally:
                connections.close_all()

    def _timeout(self) -> float:
        due = sending.next_due_at()
        interval = config().sweep_interval_seconds
        if due is None:
            return interval
        return min(interval, max(0.05, (due - timezone.now()).total_seconds()))

    def _send(self) -> None:
        while True:
            kind, pk = self._rows.get()
            try:
                close_old_connections()
                sending.send_one(kind, pk)
            except Exception:
                logger.exception("Sending %s %s failed", kind, pk)
            finally:
                connections.close_all()
                self._wake.set()  # its retry may be due before the sweeper's timeout


class CeleryDispatcher(Dispatcher):
    """A task per due row (beat also runs the sweep every SWEEP_INTERVAL_SECONDS)."""

    def wake(self) -> None:
        try:
            tasks.send_due_notifications.delay()
        except Exception:  # the broker is down: beat sends it once it is back
            logger.exception("Could not enqueue the notification sweep")


_dispatchers: dict[str, Dispatcher] = {}
_lock = threading.Lock()


def get_dispatcher() -> Dispatcher:
    """The dispatcher of the configured runner backend, one per process."""
    path = config().stream_runner
    with _lock:
        found = _dispatchers.get(path)
        if found is None:
            runner = get_runner()
            if runner.runs_in_process:
                found = EmbeddedDispatcher()
            elif isinstance(runner, CeleryRunner):
                found = CeleryDispatcher()
            else:
                found = Dispatcher()
            _dispatchers[path] = found
        return found
