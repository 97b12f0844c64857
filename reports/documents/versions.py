"""Every completed generation, stage retry, fork and edit adds a document version; none is
overwritten. The run that completes a stream records it (``record_version``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Max, QuerySet, Sum

from reports.documents.provenance import stages_provenance
from reports.models import (
    Report,
    Stage,
    StageAttempt,
    StageSource,
    StreamingJob,
    VersionReason,
)


def reason_for(stream: StreamingJob, previous: Report | None) -> str:
    """Why this version exists: a second completion of one stream is a stage retry
    (a completed stream only runs again that way)."""
    if previous is not None:
        return VersionReason.RETRY
    if stream.forked_from_id:
        edited = Stage.objects.filter(stream=stream, source=StageSource.EDITED).exists()
        return VersionReason.EDIT if edited else VersionReason.FORK
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
        if stage.source != StageSource.COPIED
        and (since is None or (stage.finished_at or since) > since)
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
        cost_usd=spent["cost"],  # None: nothing behind the change could be priced
        provenance=stages_provenance(stages),
    )


def latest_version(stream: StreamingJob | Any) -> Report | None:
    """The stream's newest document version, if it completed once."""
    return Report.objects.filter(stream=stream).order_by("-version", "-created_at").first()


def job_versions(user: Any, job_id: Any, job_type: str | None = None) -> QuerySet[Report]:
    """Every version of a job the user may see, newest first."""
    found = Report.objects.visible_to(user).filter(job_id=job_id)
    if job_type:
        found = found.filter(job_type=job_type)
    return found.select_related("created_by").order_by("-version", "-created_at")


def versions_of(report: Report, user: Any) -> QuerySet[Report]:
    """The versions of the report's job; a document made before streaming (no job) is
    its own only version."""
    if not report.job_id:
        return Report.objects.visible_to(user).filter(pk=report.pk)
    return job_versions(user, report.job_id, report.job_type)
