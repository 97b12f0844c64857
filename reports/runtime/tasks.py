"""Celery tasks: thin adapters over the engine and the sweeper (distributed mode)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_shutting_down

from reports.runtime import sweeper
from reports.runtime.engine import run_stream
from reports.runtime.runners.base import interrupt_for_shutdown


# The names are what queued messages carry: they stay as they were before the move.
@shared_task(name="reports.tasks.run_stream", acks_late=True, ignore_result=True)
def run_stream_task(stream_id: str) -> str | None:
    """Run a stream; a duplicate or redelivered task finds the lease taken and returns."""
    return run_stream(stream_id)


@shared_task(name="reports.tasks.sweep_stale_streams", ignore_result=True)
def sweep_stale_streams() -> int:
    """Beat: re-enqueue streams whose worker died."""
    return len(sweeper.sweep_stale_streams())


@worker_shutting_down.connect
def hand_back_streams(**kwargs: Any) -> None:
    """A warm shutdown stops this worker's runs at once instead of waiting for them:
    their leases are released and beat's sweeper gives them to another worker."""
    interrupt_for_shutdown()
