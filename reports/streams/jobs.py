"""Deleting and duplicating a user's jobs (the list pages' actions)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from reports.models import ACTIVE_STATUSES, BaseJob, Report, StreamingJob
from reports.pipelines import get_pipeline
from reports.streams.services import Conflict, job_create

COPY_SUFFIX = " (copy)"


def job_delete(*, job: BaseJob) -> None:
    """Delete the job with its runs and documents; refused while a run is active (the
    runner would go on writing into rows that are gone)."""
    with transaction.atomic():
        streams = StreamingJob.objects.select_for_update().filter(type=job.job_type, job_id=job.pk)
        if streams.filter(status__in=ACTIVE_STATUSES).exists():
            raise Conflict(
                f"“{job.title}” is generating: cancel it first (on its page), then delete it."
            )
        Report.objects.filter(job_type=job.job_type, job_id=job.pk).delete()
        streams.delete()
        job.delete()


def job_duplicate(*, job: BaseJob, user: Any) -> BaseJob:
    """A new job with the same inputs, titled "<title> (copy)"; nothing is generated."""
    pipeline = get_pipeline(job.job_type)
    limit = type(job)._meta.get_field("title").max_length or 200
    title = job.title[: limit - len(COPY_SUFFIX)].rstrip() + COPY_SUFFIX
    return job_create(pipeline=pipeline, user=user, input_data={**job.input_data(), "title": title})
