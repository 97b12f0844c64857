"""Celery tasks: thin adapters over the engine (distributed mode)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_shutting_down

from reports import engine, runners, services


@shared_task(name="reports.tasks.run_stream", acks_late=True, ignore_result=True)
def run_stream_task(stream_id: str) -> str | None:
    """Run a stream; a duplicate or redelivered task finds the lease taken and returns."""
    return engine.run_stream(stream_id)


@shared_task(name="reports.tasks.sweep_stale_streams", ignore_result=True)
def sweep_stale_streams() -> int:
    """Beat: re-enqueue streams whose worker died."""
    return len(services.sweep_stale_streams())


@worker_shutting_down.connect
def hand_back_streams(**kwargs: Any) -> None:
    """A warm shutdown stops this worker's runs at once instead of waiting for them:
    their leases are released and beat's sweeper gives them to another worker."""
    runners.interrupt_for_shutdown()
