"""Celery tasks (distributed mode): thin adapters over ``sending``."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from reports.notify import sending


@shared_task(name="reports.tasks.send_notification", ignore_result=True)
def send_notification(kind: str, pk: str) -> str | None:
    """Send one delivery or notice (a duplicate finds it claimed or done and returns)."""
    return sending.send_one(kind, pk)


@shared_task(name="reports.tasks.send_due_notifications", ignore_result=True)
def send_due_notifications() -> int:
    """Beat, and every new ending: a task for each due row."""

    def enqueue(kind: str, pk: Any) -> None:
        send_notification.delay(kind, str(pk))

    return sending.send_due(enqueue)
