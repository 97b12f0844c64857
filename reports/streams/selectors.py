"""Reads: the stream snapshot of the API/WebSocket contract, and lookups by owner."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from reports.documents.versions import latest_version
from reports.models import BaseJob, Report, Stage, StageStatus, StreamingJob, visible_to
from reports.runtime.admission import queue_position
from reports.streams.eta import estimate
from reports.streams.snapshot import StageDetail, StreamSnapshot

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def stream_snapshot(stream: StreamingJob, stages: list[Stage] | None = None) -> dict[str, Any]:
    """The full state of a stream, as the API and the WebSocket send it (``StreamSnapshot``)."""
    if stages is None:
        stages = list(stream.stages.in_order())
    latest = latest_version(stream)
    report_id = latest.pk if latest is not None else None
    timing = estimate(stream, stages)
    snapshot = StreamSnapshot.of(
        stream, stages, report_id=report_id, timing=timing, queue_position=queue_position(stream)
    )
    return snapshot.model_dump(mode="json")


def stage_detail(stage: Stage) -> dict[str, Any]:
    """One stage in full (``StageDetail``): its snapshot fields, ``output`` and ``data``."""
    slow = False
    if stage.status == StageStatus.RUNNING:  # only a running stage can be slow
        stream = stage.stream
        slow = stage.key in estimate(stream, list(stream.stages.in_order())).slow
    return StageDetail.of(stage, slow=slow).model_dump(mode="json")


def parse_uuid(value: object) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one (a malformed id is just not found)."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def stream_for_user(
    stream_id: uuid.UUID | str, user: AbstractBaseUser | AnonymousUser
) -> StreamingJob | None:
    """The stream if it exists and the user may see it (owner or staff), else None."""
    pk = parse_uuid(stream_id)
    if pk is None:
        return None
    return StreamingJob.objects.visible_to(user).filter(pk=pk).first()


def report_for_user(
    report_id: uuid.UUID | str, user: AbstractBaseUser | AnonymousUser
) -> Report | None:
    """The report if it exists and the user may see it (owner or staff), else None."""
    pk = parse_uuid(report_id)
    if pk is None:
        return None
    return Report.objects.visible_to(user).filter(pk=pk).first()


Job = TypeVar("Job", bound=BaseJob)


def job_for_user(
    job_model: type[Job], job_id: uuid.UUID | str, user: AbstractBaseUser | AnonymousUser
) -> Job | None:
    """The job if it exists and the user may see it (owner or staff), else None."""
    pk = parse_uuid(job_id)
    if pk is None:
        return None
    job: Job | None = visible_to(job_model._default_manager.all(), user).filter(pk=pk).first()
    return job
