"""The Celery runner (distributed mode): a task per run, any number of workers."""

from __future__ import annotations

import uuid

from reports.runtime.runners.base import RunnerBackend
from reports.runtime.tasks import run_stream_task


class CeleryRunner(RunnerBackend):
    def enqueue(self, stream_id: uuid.UUID | str) -> None:
        run_stream_task.delay(str(stream_id))
