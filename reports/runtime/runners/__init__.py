"""Where streams run: a backend chosen by ``STREAM_RUNNER`` (a short name or a dotted
path), loaded behind the small interface of ``base``."""

from __future__ import annotations

from reports.runtime.runners.base import (
    ManualRunner,
    RunnerBackend,
    enqueue,
    get_runner,
    interrupt_for_shutdown,
    reset_runner,
)

__all__ = [
    "ManualRunner",
    "RunnerBackend",
    "enqueue",
    "get_runner",
    "interrupt_for_shutdown",
    "reset_runner",
]
