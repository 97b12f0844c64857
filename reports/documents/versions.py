"""Every completed generation, stage retry and fork adds a document version; none is
overwritten. The run that completes a stream records it (``record_version``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Max, Q, QuerySet, Sum

from reports.documents.provenance import stages_provenance
from reports.models import Report, Stage, StageAttempt, StreamingJob, VersionReason


def reason_for(stream: StreamingJob, previous: Report | None) -> str:
    """Why this version exists: a second completion of one stream is a stage retry
    (a completed stream only runs again that way)."""
    if previous is not None:
        return VersionReason.RETRY
    if stream.forked_from_id:
        return VersionReason.FORK
    earlier = Report.objects.filter(job_type=stream.type, job_id=stream.job_id).exists()
    return VersionReason.REGENERATE if earlier else VersionReason.GENERATE


def record_version(stream: StreamingJob, *, title: str, markdown: str) -> Report:
    """Save the stream's document as the job's next version (call inside the ending's
    transaction: only the run holding the stream's lease completes it)."""
    previous = latest_version(stream)
    stages = list(Stage.objects.filter(stream=stream).in_order())
    since = previous.created_at if previous is not None else None
    changed = [
        stage.key
        for stage in stages
        if not stage.reused and (since is None or (stage.finished_at or since) > since)
    ]
    attempts = StageAttempt.objects.filter(stage__stream=stream)
    if since is not None:
        attempts = attempts.filter(started_at__gt=since)
    spent = attempts.aggregate(
        tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost_usd")
    )
    last = Report.objects.filter(job_type=stream.type, job_id=stream.job_id).aggregate(
        n=Max("version")
    )["n"]
    return Report.objects.create(
        owner_id=stream.owner_id,
        job_type=stream.type,
        job_id=stream.job_id,
        stream=stream,
        version=(last or 0) + 1,
        reason=reason_for(stream, previous),
        created_by_id=stream.requested_by_id or stream.owner_id,
        title=title,
        markdown=markdown,
        changed_stages=changed,
        tokens_in=spent["tokens_in"] or 0,
        tokens_out=spent["tokens_out"] or 0,
        cost_usd=spent["cost"] if spent["cost"] is not None else Decimal("0"),
        provenance=stages_provenance(stages),
    )


def latest_version(stream: StreamingJob | Any) -> Report | None:
    """The stream's newest document version, if it completed once."""
    return Report.objects.filter(stream=stream).order_by("-version", "-created_at").first()


def job_versions(report_or_job: Report | tuple[str, Any], user: Any) -> QuerySet[Report]:
    """Every version of a job the user may see, newest first; a document made before
    streaming (no job) is its own only version."""
    if isinstance(report_or_job, Report) and not report_or_job.job_id:
        return Report.objects.visible_to(user).filter(pk=report_or_job.pk)
    job_type, job_id = (
        (report_or_job.job_type, report_or_job.job_id)
        if isinstance(report_or_job, Report)
        else report_or_job
    )
    return (
        Report.objects.visible_to(user)
        .filter(Q(job_type=job_type) if job_type else Q(), job_id=job_id)
        .select_related("created_by")
        .order_by("-version", "-created_at")
    )
