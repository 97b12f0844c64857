"""The list pages' search and status filter (``?q=`` and ``?status=``), for any job type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import QueryDict

from reports.models import BaseJob, StreamingJob, StreamStatus

Job = TypeVar("Job", bound=BaseJob)

MAX_QUERY = 200
NOT_GENERATED = "none"
# What the filter offers: the latest run's status ("running" includes waiting ones).
STATUS_CHOICES = (
    ("", "Any status"),
    ("running", "Generating"),
    (StreamStatus.COMPLETED.value, "Completed"),
    (StreamStatus.FAILED.value, "Failed"),
    (StreamStatus.CANCELLED.value, "Cancelled"),
    (StreamStatus.AWAITING_REVIEW.value, "Awaiting review"),
    (NOT_GENERATED, "Not generated"),
)
_STATUSES = {
    "running": [StreamStatus.PENDING.value, StreamStatus.RUNNING.value],
    StreamStatus.COMPLETED.value: [StreamStatus.COMPLETED.value],
    StreamStatus.FAILED.value: [StreamStatus.FAILED.value],
    StreamStatus.CANCELLED.value: [StreamStatus.CANCELLED.value],
    StreamStatus.AWAITING_REVIEW.value: [StreamStatus.AWAITING_REVIEW.value],
}


@dataclass(frozen=True)
class ListFilter:
    """What the reader asked the list for; anything unknown is ignored, never an error."""

    q: str = ""
    status: str = ""

    @classmethod
    def from_query(cls, query: QueryDict) -> ListFilter:
        q = " ".join(query.get("q", "").split())[:MAX_QUERY]
        status = query.get("status", "")
        return cls(q, status if status in dict(STATUS_CHOICES) else "")

    @property
    def active(self) -> bool:
        return bool(self.q or self.status)

    def context(self, noun: str) -> dict[str, Any]:
        """What ``reports/_list_filter.html`` needs."""
        labels = dict(STATUS_CHOICES)
        return {"filters": self, "status_choices": STATUS_CHOICES, "noun": noun,
                "status_label": labels[self.status] if self.status else ""}

    def apply(self, jobs: QuerySet[Job], job_type: str) -> QuerySet[Job]:
        """``jobs`` whose title contains ``q`` and whose latest run has ``status``."""
        if self.q:
            jobs = jobs.filter(title__icontains=self.q)
        if not self.status:
            return jobs
        latest = StreamingJob.objects.filter(type=job_type, job_id=OuterRef("pk"))
        if self.status == NOT_GENERATED:
            return jobs.exclude(Exists(latest))
        # The job's newest run has one of the statuses.
        newest = StreamingJob.objects.filter(type=job_type, job_id=OuterRef(OuterRef("pk")))
        newest_pk = Subquery(newest.order_by("-created_at").values("pk")[:1])
        match = StreamingJob.objects.filter(pk=newest_pk, status__in=_STATUSES[self.status])
        return jobs.filter(Exists(match))
