"""Writes: create, resume, cancel and retry streams; recover the ones whose runner died.

Keyword-only and typed (HackSoft style). Every state change is a conditional UPDATE,
so a double click or two tabs can never leave a stream in two states.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from pydantic import ValidationError as SchemaError

from reports.domain.config import config, parse_budget
from reports.domain.events import EventType, make_event
from reports.domain.money import usd_label
from reports.events.publisher import publish_on_commit
from reports.models import (
    ACTIVE_STATUSES,
    BaseJob,
    Stage,
    StageSource,
    StageStatus,
    StreamingJob,
    StreamStatus,
)
from reports.pipelines import Pipeline, get_pipeline, graph
from reports.pipelines.inputs import error_details
from reports.pipelines.registry import UnknownJobType
from reports.providers.offline import parse_offline_model
from reports.runtime.admission import admit_waiting
from reports.runtime.hooks import stream_ended
from reports.runtime.leases import SEQ_GAP_ON_CLAIM, keeper
from reports.streams.forecast import forecast_job
from reports.streams.selectors import job_for_user, stream_for_user
from reports.streams.snapshot import budget_of

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser


class ServiceError(Exception):
    """An action that cannot be done; ``status`` is the HTTP code it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class InvalidInput(ServiceError):
    status = 422
    code = "invalid_input"


def _job(*, pipeline: Pipeline, job_id: uuid.UUID | str, user: User) -> BaseJob:
    job = job_for_user(pipeline.job_model, job_id, user)
    if job is None:
        raise NotFound(f"No {pipeline.type} job {job_id}.")
    return job


def validated_inputs(pipeline: Pipeline, input_data: Any) -> Any:
    """``input_data`` validated against the pipeline's schema (InvalidInput if not)."""
    if not isinstance(input_data, dict):
        raise InvalidInput("input_data must be a JSON object.")
    try:
        return pipeline.input_schema.model_validate(input_data)
    except SchemaError as exc:
        errors = error_details(exc.errors(include_url=False, include_input=False))
        raise InvalidInput("Some inputs are missing or invalid.", details=errors) from None


# The most a budget may be (the column holds 8 digits before the point, 4 after).
MAX_BUDGET_USD = Decimal("99999999")


def budget_from(value: Any) -> Decimal | None:
    """A stream's budget in USD from a request (None: none given); InvalidInput unless it
    is an amount over 0 with at most 4 decimals."""
    problem = "must be an amount in USD over 0, with at most 4 decimals"
    try:
        amount = parse_budget(value)
    except ValueError:
        amount, ok = None, False
    else:
        ok = amount is None or (
            amount <= MAX_BUDGET_USD and amount == amount.quantize(Decimal("0.0001"))
        )
    if isinstance(value, bool) or not ok:
        raise InvalidInput(f"budget_usd {problem}.",
                           details=[{"field": "budget_usd", "message": problem}])
    return amount


def job_create(
    *, pipeline: Pipeline, user: Any, input_data: Any,
    before_create: Callable[[], None] | None = None,
) -> BaseJob:
    """Validate ``input_data`` against the pipeline's schema and save a new job
    (``before_create`` runs in between)."""
    inputs = validated_inputs(pipeline, input_data)
    if before_create is not None:
        before_create()
    return pipeline.job_model._default_manager.create(owner=user, **inputs.model_dump())


def create_streaming_job(
    *,
    job_id: uuid.UUID | str | None = None,
    user: User,
    type: str,
    input_data: Any = None,
    offline_model: str = "",
    budget_usd: Decimal | None = None,
    review_after: list[str] | None = None,
    before_create: Callable[[], None] | None = None,
) -> tuple[StreamingJob, bool]:
    """Start generating a job (creating the job from ``input_data`` if no ``job_id``).

    Returns ``(stream, created)``; when the job already has an active stream, that
    stream is returned with ``created=False`` (a database constraint guarantees one).
    ``offline_model`` gives the offline model's speed and faults for this stream alone;
    ``budget_usd`` caps what it may spend (default: ``STREAM_BUDGET_USD``; None: no cap);
    ``review_after``: stage keys it waits after for its owner's review (reports/streams/
    reviews.py). A job whose stream awaits review gets that stream back.
    ``before_create`` runs once the request is found valid, before anything is saved
    (the creation quota: a refused input does not count against it).
    """
    try:
        pipeline = get_pipeline(type)
    except UnknownJobType as exc:
        raise InvalidInput(str(exc)) from None
    review_keys = checked_review_keys(pipeline, review_after)
    try:
        parse_offline_model(offline_model, default_rate=1.0)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if job_id is not None:
        job = _job(pipeline=pipeline, job_id=job_id, user=user)
        current = StreamingJob.objects.for_job(type, job.pk).filter(
            status__in=(*ACTIVE_STATUSES, StreamStatus.AWAITING_REVIEW)
        ).first()
        if current is not None:
            return current, False
        if before_create is not None:
            before_create()
    else:
        job = job_create(pipeline=pipeline, user=user, input_data=input_data,
                         before_create=before_create)
    input_data = job.input_data()
    forecast = forecast_job(job_type=type, input_data=input_data).as_json()
    try:
        with transaction.atomic():
            stream = StreamingJob.objects.create(
                type=type,
                job_id=job.pk,
                owner_id=job.owner_id,
                title=job.title,
                input_data=input_data,
                forecast=forecast,
                budget_usd=budget_usd if budget_usd is not None else config().stream_budget_usd,
                review_after=review_keys,
                enqueued_at=timezone.now(),
                waiting_for_slot=True,
                requested_by_id=user.pk,
                offline_model=offline_model,
            )
            Stage.objects.bulk_create(
                Stage(
                    stream=stream,
                    key=spec.key,
                    title=spec.title,
                    position=position,
                    weight=spec.weight,
                    depends_on=list(spec.reads),
                )
                for position, spec in enumerate(pipeline.stages)
            )
    except IntegrityError:
        active = StreamingJob.objects.active().for_job(type, job.pk).first()
        if active is None:  # it finished in between: extremely unlikely, say so plainly
            raise Conflict("Another generation of this job just finished; try again.") from None
        return active, False
    admit_waiting(stream.owner_id)
    stream.refresh_from_db()
    return stream, True


def checked_review_keys(pipeline: Pipeline, keys: Any) -> list[str]:
    """``keys`` as the stages a new stream waits for review after (in pipeline order);
    InvalidInput for anything that is not a list of the pipeline's stage keys."""
    known = [spec.key for spec in pipeline.stages]
    if keys is None:
        return []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        message = "review_after must be a list of stage keys."
        raise InvalidInput(message, details=[{"field": "review_after", "message": message}])
    unknown = [k for k in keys if k not in known]
    if unknown:
        message = f"Unknown stage {', '.join(map(repr, unknown))}: choose from {', '.join(known)}."
        raise InvalidInput(message, details=[{"field": "review_after", "message": message}])
    return [k for k in known if k in keys]


def owned_stream(stream_id: uuid.UUID | str, user: User) -> StreamingJob:
    stream = stream_for_user(stream_id, user)
    if stream is None:
        raise NotFound(f"No stream {stream_id}.")
    return stream


def restart_stream(
    stream: StreamingJob, reset: Q, *, allowed: tuple[str, ...], user: User,
    fields: dict[str, Any] | None = None,
) -> StreamingJob:
    """Put stages matching ``reset`` back to pending and enqueue the stream again (with
    ``fields`` of the stream changed in the same UPDATE)."""
    now = timezone.now()
    # A finished stream may still show the lease of the runner that is just letting go
    # of it: that runner writes nothing more, so only an active stream needs the lease
    # to be free (or expired: an interrupted stream).
    finished = [status for status in allowed if status not in ACTIVE_STATUSES]
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    try:
        with transaction.atomic():
            changed = (
                StreamingJob.objects.filter(pk=stream.pk, status__in=allowed)
                .filter(Q(status__in=finished) | lease_free)
                .update(
                    status=StreamStatus.PENDING,
                    cancel_requested=False,
                    cancel_reason="",
                    error="",
                    error_kind="",
                    finished_at=None,
                    enqueued_at=now,
                    lease_owner="",
                    lease_expires_at=None,
                    waiting_for_slot=True,
                    requested_by_id=user.pk,
                    **(fields or {}),
                )
            )
            if not changed:
                raise Conflict("The stream is running; cancel it first.")
            # Times are this run's (a pending stage shows none); tokens and cost stay:
            # they were paid for.
            Stage.objects.filter(stream=stream).filter(reset).update(
                status=StageStatus.PENDING, error="", error_kind="", started_at=None,
                finished_at=None, source=StageSource.MODEL,
            )
    except IntegrityError:
        raise Conflict("This job has another active stream; watch that one instead.") from None
    admit_waiting(stream.owner_id)
    stream.refresh_from_db()
    return stream


def resume_job(
    *, stream_id: uuid.UUID | str, user: User, budget_usd: Decimal | None = None
) -> StreamingJob:
    """Continue a failed, cancelled or interrupted stream from its first unfinished stage.

    Completed stages are kept and never sent to the model again. ``budget_usd`` replaces
    the stream's budget; a stream that has spent its budget resumes only with a higher one.
    """
    stream = owned_stream(stream_id, user)
    if stream.status == StreamStatus.COMPLETED:
        raise Conflict("The stream is already completed.")
    if stream.status == StreamStatus.AWAITING_REVIEW:
        raise Conflict("The stream waits for your review: approve, edit or rerun the stage.")
    if stream.is_generating and not stream.is_unattended():
        return stream  # already running: resuming is a no-op
    budget = budget_usd if budget_usd is not None else budget_of(stream)
    if budget is not None and stream.cost_usd >= budget:
        spent = usd_label(stream.cost_usd)
        message = (f"It has spent {spent} of its {usd_label(budget)} budget: give a budget_usd "
                   f"over {spent} to go on.")
        raise InvalidInput(message, details=[{"field": "budget_usd", "message": message}])
    unfinished = ~Q(status__in=[StageStatus.COMPLETED, StageStatus.SKIPPED])
    return restart_stream(
        stream,
        unfinished,
        allowed=(*ACTIVE_STATUSES, StreamStatus.FAILED, StreamStatus.CANCELLED),
        user=user,
        fields={"budget_usd": budget_usd} if budget_usd is not None else None,
    )



def retry_stage(*, stream_id: uuid.UUID | str, key: str, user: User) -> StreamingJob:
    """Run one stage again, and every stage that reads it (now stale); keep the rest."""
    stream = owned_stream(stream_id, user)
    stage = stream.stages.filter(key=key).first()
    if stage is None:
        raise NotFound(f"No stage {key!r} in this stream.")
    if stream.is_generating and not stream.is_unattended():
        raise Conflict("The stream is running; cancel it first or wait for it to finish.")
    if stream.status == StreamStatus.AWAITING_REVIEW:
        raise Conflict("The stream waits for your review: approve, edit or rerun that stage.")
    if stage.status in (StageStatus.PENDING, StageStatus.RUNNING):
        raise Conflict(f"Stage {key!r} has not run yet; Resume runs it.")
    try:
        stale = graph.downstream(get_pipeline(stream.type), [key])
    except UnknownJobType as exc:
        raise Conflict(str(exc)) from None
    keys = {key, *stale}
    # Everything unfinished runs too, so the stream can complete.
    reset = Q(key__in=keys) | ~Q(status__in=[StageStatus.COMPLETED, StageStatus.SKIPPED])
    return restart_stream(
        stream,
        reset,
        allowed=(
            *ACTIVE_STATUSES,
            StreamStatus.FAILED,
            StreamStatus.CANCELLED,
            StreamStatus.COMPLETED,
        ),
        user=user,
    )


def cancel_job(
    *, stream_id: uuid.UUID | str, user: User, reason: str = "user"
) -> StreamingJob:
    """Stop a stream now: its runner closes the model's stream within a heartbeat; a
    stream nobody is running is cancelled on the spot. Partial text is kept."""
    stream = owned_stream(stream_id, user)
    waiting = stream.status == StreamStatus.AWAITING_REVIEW  # nothing runs: stop it here
    if not (stream.is_generating or waiting):
        return stream
    StreamingJob.objects.filter(pk=stream.pk, status__in=ACTIVE_STATUSES).update(
        cancel_requested=True, cancel_reason=reason
    )
    # Running in this process: stop it without waiting for the next heartbeat.
    keeper.cancel(stream.pk, reason)
    now = timezone.now()
    with transaction.atomic():
        # Past whatever a dead runner published after its last checkpoint.
        stopped = (
            StreamingJob.objects.filter(pk=stream.pk)
            .filter(
                Q(status__in=ACTIVE_STATUSES, lease_expires_at__isnull=True)
                | Q(status__in=ACTIVE_STATUSES, lease_expires_at__lt=now)
                | Q(status=StreamStatus.AWAITING_REVIEW)
            )
            .update(
                status=StreamStatus.CANCELLED,
                finished_at=now,
                cancel_requested=False,
                cancel_reason=reason,
                seq=F("seq") + SEQ_GAP_ON_CLAIM,
                waiting_for_slot=False,
            )
        )
        if stopped:
            Stage.objects.filter(stream=stream, status=StageStatus.RUNNING).update(
                status=StageStatus.CANCELLED, finished_at=now
            )
            stream.refresh_from_db(fields=["seq"])
            stream_ended(stream.pk, EventType.STREAM_CANCELLED, stream.seq)
    stream.refresh_from_db()
    if stopped:
        admit_waiting(stream.owner_id)
        publish_on_commit(
            stream.pk,
            make_event(
                EventType.STREAM_CANCELLED,
                seq=stream.seq,
                stream_id=stream.pk,
                status=StreamStatus.CANCELLED,
                reason=reason,
            ),
        )
    return stream
