"""Reads: the stream snapshot of the API/WebSocket contract, and lookups by owner."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from reports.models import BaseJob, Report, Stage, StreamingJob, visible_to
from reports.streams.eta import estimate

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.6f}"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def stage_fields(stage: Stage, *, slow: bool = False) -> dict[str, Any]:
    """One stage in the snapshot; ``slow``: running past its usual (p95) duration."""
    duration = stage.duration_s()
    return {
        "key": stage.key,
        "title": stage.title,
        "position": stage.position,
        "status": stage.status,
        "attempts": stage.attempts,
        "error": stage.error or None,
        "error_kind": stage.error_kind or None,
        "tokens_in": stage.tokens_in,
        "tokens_out": stage.tokens_out,
        "cost_usd": money(stage.cost_usd),
        "model": stage.model or None,
        "started_at": iso(stage.started_at),
        "finished_at": iso(stage.finished_at),
        "duration_s": None if duration is None else round(duration, 2),
        "slow": slow,
    }


def stream_snapshot(stream: StreamingJob, stages: list[Stage] | None = None) -> dict[str, Any]:
    """The full state of a stream, as the API and the WebSocket send it."""
    if stages is None:
        stages = list(stream.stages.in_order())
    report_id = Report.objects.filter(stream=stream).values_list("pk", flat=True).first()
    timing = estimate(stream, stages)
    cost: Decimal | None = stream.cost_usd
    if not stream.cost_complete and not cost:
        cost = None
    return {
        "stream_id": str(stream.pk),
        "job_id": str(stream.job_id),
        "type": stream.type,
        "title": stream.title,
        "status": stream.status,
        "progress": stream.progress,
        "current_stage": stream.current_stage or None,
        "eta_seconds": timing.eta_seconds,
        "error": stream.error or None,
        "error_kind": stream.error_kind or None,
        "report_id": str(report_id) if report_id else None,
        "tokens_in": stream.tokens_in,
        "tokens_out": stream.tokens_out,
        "cost_usd": money(cost),
        "cost_complete": stream.cost_complete,
        "created_at": iso(stream.created_at),
        "started_at": iso(stream.started_at),
        "finished_at": iso(stream.finished_at),
        "is_generating": stream.is_generating,
        "is_completed": stream.is_completed,
        "is_failed": stream.is_failed,
        "seq": stream.seq,
        "stages": [stage_fields(stage, slow=stage.key in timing.slow) for stage in stages],
    }


def stage_detail(stage: Stage) -> dict[str, Any]:
    slow = False
    if stage.status == "running":
        stream = stage.stream
        slow = stage.key in estimate(stream, list(stream.stages.in_order())).slow
    return {**stage_fields(stage, slow=slow), "output": stage.output, "data": stage.data}


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def stream_for_user(stream_id: Any, user: AbstractBaseUser | AnonymousUser) -> StreamingJob | None:
    """The stream if it exists and the user may see it (owner or staff), else None."""
    pk = parse_uuid(stream_id)
    if pk is None:
        return None
    return StreamingJob.objects.visible_to(user).filter(pk=pk).first()


def report_for_user(report_id: Any, user: AbstractBaseUser | AnonymousUser) -> Report | None:
    pk = parse_uuid(report_id)
    if pk is None:
        return None
    return Report.objects.visible_to(user).filter(pk=pk).first()


Job = TypeVar("Job", bound=BaseJob)


def job_for_user(
    job_model: type[Job], job_id: Any, user: AbstractBaseUser | AnonymousUser
) -> Job | None:
    """The job if it exists and the user may see it (owner or staff), else None."""
    pk = parse_uuid(job_id)
    if pk is None:
        return None
    job: Job | None = visible_to(job_model._default_manager.all(), user).filter(pk=pk).first()
    return job
