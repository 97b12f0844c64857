"""Job cards for any job type: a job with its latest stream and document.

Pages of every job type render them with ``reports/_card.html``; the card holds the
live progress component, so one socket per page keeps all of its cards current.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reports.models import BaseJob, Report, StreamingJob


@dataclass(frozen=True)
class JobCard:
    """What ``reports/_card.html`` shows for one job."""

    job: BaseJob
    stream: StreamingJob | None  # the latest run, if any
    report: Report | None  # the latest document (shown when no stream made it)
    subtitle: str = ""
    generate_url: str = ""
    kind: str = ""  # a label above the title ("" on a page of one type)
    duplicate_url: str = ""  # the owner's actions ("" leaves them out)
    delete_url: str = ""

    @property
    def dom_id(self) -> str:
        return f"card-{self.job.pk}"


def job_cards(
    jobs: Sequence[BaseJob],
    *,
    subtitle: Callable[[BaseJob], str],
    generate_url: Callable[[BaseJob], str],
    kind: str = "",
    duplicate_url: Callable[[BaseJob], str] | None = None,
    delete_url: Callable[[BaseJob], str] | None = None,
) -> list[JobCard]:
    """One card per job (same type), each with its newest stream and report: two queries."""
    if not jobs:
        return []
    job_type = jobs[0].job_type
    ids = [job.pk for job in jobs]
    # Oldest first, so each dict ends up holding the job's newest row.
    streams = {
        s.job_id: s
        for s in StreamingJob.objects.filter(type=job_type, job_id__in=ids).order_by("created_at")
    }
    reports = {
        r.job_id: r
        for r in Report.objects.filter(job_type=job_type, job_id__in=ids).order_by("created_at")
    }
    return [
        JobCard(
            job,
            streams.get(job.pk),
            reports.get(job.pk),
            subtitle=subtitle(job),
            generate_url=generate_url(job),
            kind=kind,
            duplicate_url=duplicate_url(job) if duplicate_url else "",
            delete_url=delete_url(job) if delete_url else "",
        )
        for job in jobs
    ]


def live_stream_ids(cards: Sequence[JobCard]) -> list[str]:
    """The streams a page of cards subscribes to on its one socket (``?streams=``)."""
    return [str(card.stream.pk) for card in cards if card.stream is not None]
