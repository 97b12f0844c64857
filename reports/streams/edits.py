"""Edits after the end: a person replaces one stage's output of a finished (or failed)
stream, and only the stages that depend on it run again, in a new stream of the same job
(a fork). Every other finished stage is copied; nothing is overwritten, and the result
is a new document version with reason ``edit`` (docs/documents.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from pydantic import ValidationError as SchemaError

from reports.models import Stage, StageSource, StageStatus, StreamingJob
from reports.pipelines import Pipeline, StageSpec, get_pipeline, graph
from reports.pipelines.edits import EditInvalid, edited_output
from reports.pipelines.registry import UnknownJobType
from reports.streams.forecast import forecast_rerun
from reports.streams.forks import KEPT, new_fork, new_stage
from reports.streams.selectors import job_for_user
from reports.streams.services import Conflict, InvalidInput, NotFound, owned_stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from reports.streams.services import User


@dataclass(frozen=True)
class EditPlan:
    """What replacing ``key`` reruns (its dependents, and any stage the stream has not
    finished) and copies, with the forecast of the rerun."""

    key: str
    rerun: list[str]
    copied: list[str]
    forecast: dict[str, Any] = field(default_factory=dict)

    def preview(self) -> dict[str, Any]:
        """The contract's dry run: ``{rerun, copied, forecast}``."""
        return {"rerun": self.rerun, "copied": self.copied, "forecast": self.forecast}


def editable_spec(stream: StreamingJob, key: str) -> tuple[Pipeline, StageSpec]:
    """The stream's pipeline and the spec of its stage ``key``, which a person may edit."""
    try:
        pipeline = get_pipeline(stream.type)
    except UnknownJobType as exc:
        raise Conflict(str(exc)) from None
    try:
        spec = pipeline.stage(key)
    except KeyError:
        raise NotFound(f"No stage {key!r} in this stream.") from None
    if not graph.is_editable(spec):
        raise InvalidInput(
            f"{spec.title} is built from the other stages: edit one of them instead.",
            details=[{"field": "key", "message": "Not an editable stage."}],
        )
    return pipeline, spec


def plan_edit(stream: StreamingJob, key: str) -> EditPlan:
    """What an edit of ``key`` would rerun and copy (the stages as they stand now)."""
    pipeline, _ = editable_spec(stream, key)
    statuses = dict(stream.stages.values_list("key", "status"))
    dependents = graph.downstream(pipeline, [key])
    rerun = [
        spec.key for spec in pipeline.stages
        if spec.key != key and (spec.key in dependents or statuses.get(spec.key) not in KEPT)
    ]
    copied = [spec.key for spec in pipeline.stages if spec.key not in {key, *rerun}]
    return EditPlan(key, rerun, copied, forecast_rerun(stream, rerun))


def _checked(stream_id: Any, user: User, key: str, text: Any, data: Any,
             ) -> tuple[StreamingJob, Pipeline, StageSpec, tuple[str, Any]]:
    stream = owned_stream(stream_id, user)
    pipeline, spec = editable_spec(stream, key)
    if StreamingJob.objects.active().for_job(stream.type, stream.job_id).exists():
        raise Conflict("This job is generating; edit it once it has finished.")
    try:
        output = edited_output(spec, text=text, data=data)
    except EditInvalid as exc:
        raise InvalidInput(exc.message, details=exc.details) from None
    return stream, pipeline, spec, output


def preview_edit(*, stream_id: Any, user: User, key: str, text: Any = None,
                 data: Any = None) -> dict[str, Any]:
    """The dry run of ``edit_stage``: checked as the edit would be, nothing saved."""
    stream, _, _, _ = _checked(stream_id, user, key, text, data)
    return plan_edit(stream, key).preview()


def edit_stage(
    *,
    stream_id: Any,
    user: User,
    key: str,
    text: Any = None,
    data: Any = None,
    before_create: Callable[[], None] | None = None,
) -> StreamingJob:
    """A new stream of the job where ``key`` holds the person's output (``source``
    edited), the stages that do not depend on it are copied and the rest run."""
    source, pipeline, spec, (output, parsed) = _checked(stream_id, user, key, text, data)
    job = job_for_user(pipeline.job_model, source.job_id, user)
    if job is None:
        raise NotFound(f"No {source.type} job {source.job_id}.")
    plan = plan_edit(source, key)
    old = {stage.key: stage for stage in source.stages.all()}

    def stages(fork: StreamingJob) -> list[Stage]:
        made = []
        for position, each in enumerate(pipeline.stages):
            copy = old.get(each.key) if each.key in plan.copied else None
            stage = new_stage(fork, each, position, copy)
            if each.key == key:
                _hold_edit(stage, output, parsed)
            made.append(stage)
        return made

    try:  # the inputs the kept stages were written from become the job's again
        inputs = pipeline.input_schema.model_validate(source.input_data).model_dump()
    except SchemaError:  # saved under older rules: the job keeps what it has
        inputs = {}
    return new_fork(
        source=source, job=job, user=user, inputs=inputs,
        fork_stage=spec.key, instructions="", stages=stages, before_create=before_create,
    )


def _hold_edit(stage: Stage, output: str, data: Any) -> None:
    """The stage as a person wrote it: finished now, no model, nothing spent. It has no
    start, so the estimates never learn a stage's duration from an edit."""
    stage.status = StageStatus.COMPLETED
    stage.source = StageSource.EDITED
    stage.output, stage.data = output, data
    stage.cost_usd = Decimal(0)
    stage.finished_at = timezone.now()
