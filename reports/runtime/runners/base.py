"""The runner interface and its loader (the shape of django-tasks' backends).

``STREAM_RUNNER`` names the backend: ``embedded`` (a thread pool in this process),
``celery`` (Celery workers), ``manual`` (nothing runs until someone calls
``run_stream``: tests and scripts), or the dotted path of any ``RunnerBackend``.
Backends are imported by path, so nothing below the runners imports them.
"""

from __future__ import annotations

import abc
import logging
import threading
import uuid
from typing import ClassVar

from django.utils.module_loading import import_string

from reports.domain.config import config
from reports.runtime.leases import keeper

logger = logging.getLogger(__name__)


class RunnerBackend(abc.ABC):
    """Hands streams to whatever executes them."""

    # This process executes the streams it enqueues (so it also recovers them).
    runs_in_process: ClassVar[bool] = False

    @abc.abstractmethod
    def enqueue(self, stream_id: uuid.UUID | str) -> None:
        """Run the stream soon (called after the transaction that made it due commits)."""

    def start(self) -> None:  # noqa: B027  (optional hook: most backends need nothing)
        """The process is serving: start whatever the backend needs (its sweeper)."""


class ManualRunner(RunnerBackend):
    """Runs nothing by itself: the caller runs ``run_stream`` (tests, scripts)."""

    def enqueue(self, stream_id: uuid.UUID | str) -> None:
        return None


_runners: dict[str, RunnerBackend] = {}
_lock = threading.Lock()
_shutting_down = threading.Event()


def get_runner() -> RunnerBackend:
    """The configured backend, one instance per process and path."""
    path = config().stream_runner
    runner = _runners.get(path)
    if runner is None:
        with _lock:
            runner = _runners.get(path)
            if runner is None:
                runner = _runners[path] = backend_class(path)()
    return runner


def backend_class(path: str) -> type[RunnerBackend]:
    """The runner backend at ``path`` (ImportError or TypeError if there is none)."""
    backend = import_string(path)
    if not (isinstance(backend, type) and issubclass(backend, RunnerBackend)):
        raise TypeError(f"{path!r} is not a RunnerBackend")
    return backend


def reset_runner() -> None:
    """Forget the loaded backends (tests that switch ``STREAM_RUNNER``)."""
    with _lock:
        _runners.clear()


def enqueue(stream_id: uuid.UUID | str) -> None:
    """Hand a stream to the configured runner (after its transaction commits)."""
    if _shutting_down.is_set():
        return  # the sweeper of the next start picks it up
    get_runner().enqueue(stream_id)


def is_shutting_down() -> bool:
    return _shutting_down.is_set()


def interrupt_for_shutdown() -> None:
    """The process is exiting: start no new runs, and stop the running ones at once
    (their streams stay active and resume on the next start) instead of waiting
    minutes for them to finish."""
    if _shutting_down.is_set():
        return
    _shutting_down.set()
    stopped = keeper.interrupt_all()
    if stopped:
        logger.info("Shutting down: %d running stream(s) will resume on the next start", stopped)
