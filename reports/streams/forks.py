"""Fork a stream from a stage with an edited input: a change of mind costs only the
stages it touches.

The fork is a new stream of the same job. Completed stages before ``from_stage`` are
copied (``source`` copied: never sent to the model again); ``from_stage`` and every stage after
it run with the edited input and the optional extra instructions. The edited input is
the old one with ``input_data`` merged over it, validated like a new job's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as SchemaError

from reports.domain.money import Cost
from reports.models import Stage, StageSource, StageStatus, StreamingJob
from reports.pipelines import Pipeline, get_pipeline, graph
from reports.pipelines.inputs import error_details, optional_text
from reports.pipelines.registry import UnknownJobType
from reports.providers.pricing import is_free
from reports.runtime.admission import admit_waiting
from reports.streams.eta import stage_history
from reports.streams.forecast import forecast_rerun
from reports.streams.selectors import job_for_user
from reports.streams.services import Conflict, InvalidInput, NotFound, owned_stream

if TYPE_CHECKING:
    from reports.streams.services import User

INSTRUCTIONS_MAX_LENGTH = 4000
_instructions = TypeAdapter(Annotated[str, optional_text(INSTRUCTIONS_MAX_LENGTH)])
KEPT = (StageStatus.COMPLETED, StageStatus.SKIPPED)


@dataclass(frozen=True)
class PlannedStage:
    key: str
    title: str
    tokens: int = 0
    cost_usd: Decimal | None = None
    seconds: float | None = None
    model: str = ""  # the model of its last run ("": it called none)
    edited: bool = False  # its output is a person's: running it again replaces that


@dataclass(frozen=True)
class ForkPlan:
    """What a fork from ``from_stage`` reuses and what it runs again, with estimates
    from history (this stream's last run of each stage, the job type's median time)."""

    from_stage: str
    reused: list[PlannedStage] = field(default_factory=list)
    rerun: list[PlannedStage] = field(default_factory=list)
    # Kept stages that read an edited input, directly or through the stages they read:
    # their text would contradict the new inputs.
    stale: list[PlannedStage] = field(default_factory=list)
    forecast: dict[str, Any] = field(default_factory=dict)

    @property
    def edits_rerun_from_stale(self) -> list[PlannedStage]:
        """The stages edited by hand that rerunning from the first stale stage replaces."""
        if not self.stale:
            return []
        stages = [*self.reused, *self.rerun]
        start = stages.index(self.stale[0])
        return [stage for stage in stages[start:] if stage.edited]

    def preview(self) -> dict[str, Any]:
        """The contract's dry run: ``{rerun, copied, stale, forecast}``."""
        return {
            "rerun": [stage.key for stage in self.rerun],
            "copied": [stage.key for stage in self.reused],
            "stale": [stage.key for stage in self.stale],
            "forecast": self.forecast,
        }

    @property
    def tokens(self) -> int:
        return sum(stage.tokens for stage in self.rerun)

    @property
    def cost_usd(self) -> Decimal:
        return sum((stage.cost_usd or Decimal("0") for stage in self.rerun), Decimal("0"))

    @property
    def cost(self) -> Cost:
        """The estimate by the one rule: free when every stage to rerun runs on a free
        model; unknown when none of them could be priced."""
        tried = [stage for stage in self.rerun if stage.model]
        if tried and all(is_free(stage.model) for stage in tried):
            return Cost(Decimal(0), free=True)
        if tried and all(stage.cost_usd is None for stage in tried):
            return Cost(None)
        return Cost(self.cost_usd)

    @property
    def seconds(self) -> float:
        return sum(stage.seconds or 0.0 for stage in self.rerun)


def _pipeline(stream: StreamingJob) -> Pipeline:
    try:
        return get_pipeline(stream.type)
    except UnknownJobType as exc:
        raise Conflict(str(exc)) from None


def _position(pipeline: Pipeline, from_stage: Any) -> int:
    keys = [spec.key for spec in pipeline.stages]
    if not isinstance(from_stage, str) or from_stage not in keys:
        raise InvalidInput(
            "Choose the stage to rerun from.",
            details=[{"field": "from_stage", "message": f"One of: {', '.join(keys)}."}],
        )
    return keys.index(from_stage)


def plan_fork(
    stream: StreamingJob, from_stage: str, changed: Iterable[str] = ()
) -> ForkPlan:
    """What a fork from ``from_stage`` keeps and runs, which kept stages read the
    ``changed`` input fields (stale), and the forecast of the rerun."""
    pipeline = _pipeline(stream)
    start = _position(pipeline, from_stage)
    history = stage_history(stream.type)
    plan = ForkPlan(from_stage=from_stage)
    for position, stage in enumerate(stream.stages.in_order()):
        if position < start and stage.status in KEPT:
            plan.reused.append(PlannedStage(stage.key, stage.title,
                                            edited=stage.source == StageSource.EDITED))
            continue
        known = history.get((stage.key, stage.model))
        plan.rerun.append(
            PlannedStage(
                stage.key,
                stage.title,
                tokens=stage.tokens_in + stage.tokens_out,
                cost_usd=stage.cost_usd,
                seconds=known.p50 if known else stage.duration_s(),
                model=stage.model if stage.attempts else "",
                edited=stage.source == StageSource.EDITED,
            )
        )
    stale = graph.readers_of_inputs(pipeline, changed)
    plan.stale.extend(stage for stage in plan.reused if stage.key in stale)
    plan.forecast.update(forecast_rerun(stream, [stage.key for stage in plan.rerun]))
    return plan


def changed_inputs(pipeline: Pipeline, old: dict[str, Any], new: BaseModel) -> list[str]:
    """The input fields whose value ``new`` changes (both read through the schema, so
    "50,000" and 50000 are the same budget)."""
    try:
        before = pipeline.input_schema.model_validate(old).model_dump(mode="json")
    except SchemaError:  # inputs saved under older rules: compare them as they are
        before = dict(old)
    after = new.model_dump(mode="json")
    return [name for name in after if after[name] != before.get(name)]


@dataclass(frozen=True)
class ForkRequest:
    """A fork request found valid: its stream, pipeline, start, inputs, instructions."""

    source: StreamingJob
    pipeline: Pipeline
    start: int
    inputs: BaseModel
    instructions: str
    job: Any


def preview_fork(
    *, stream_id: Any, user: User, from_stage: Any, input_data: Any = None,
    instructions: Any = "",
) -> dict[str, Any]:
    """The dry run of ``fork_stream``: ``{rerun, copied, stale, forecast}``, validated
    exactly as the fork would be, and nothing saved."""
    request = _checked(stream_id, user, from_stage, input_data, instructions)
    changed = changed_inputs(request.pipeline, request.source.input_data, request.inputs)
    key = request.pipeline.stages[request.start].key
    return plan_fork(request.source, key, changed).preview()


def _checked(stream_id: Any, user: User, from_stage: Any, input_data: Any,
             instructions: Any) -> ForkRequest:
    source = owned_stream(stream_id, user)
    pipeline = _pipeline(source)
    start = _position(pipeline, from_stage)
    if input_data is None:
        input_data = {}
    if not isinstance(input_data, dict):
        raise InvalidInput("input_data must be a JSON object.")
    try:
        inputs = pipeline.input_schema.model_validate({**source.input_data, **input_data})
    except SchemaError as exc:
        errors = error_details(exc.errors(include_url=False, include_input=False))
        raise InvalidInput("Some inputs are missing or invalid.", details=errors) from None
    try:
        extra = _instructions.validate_python("" if instructions is None else instructions)
    except SchemaError as exc:
        errors = error_details(exc.errors(include_url=False, include_input=False))
        details = [{**error, "field": "instructions"} for error in errors]
        raise InvalidInput("The instructions are invalid.", details=details) from None
    job = job_for_user(pipeline.job_model, source.job_id, user)
    if job is None:
        raise NotFound(f"No {source.type} job {source.job_id}.")
    if StreamingJob.objects.active().for_job(source.type, source.job_id).exists():
        raise Conflict("This job is generating; wait for it or cancel it first.")
    return ForkRequest(source, pipeline, start, inputs, extra.strip(), job)


def fork_stream(
    *,
    stream_id: Any,
    user: User,
    from_stage: Any,
    input_data: Any = None,
    instructions: Any = "",
    before_create: Callable[[], None] | None = None,
) -> StreamingJob:
    """Start a new stream of the stream's job from ``from_stage`` (see the module);
    ``before_create`` runs once the request is found valid, before anything is saved."""
    request = _checked(stream_id, user, from_stage, input_data, instructions)
    source, pipeline, start = request.source, request.pipeline, request.start
    old = {stage.key: stage for stage in source.stages.all()}
    return new_fork(
        source=source, job=request.job, user=user, inputs=request.inputs.model_dump(),
        fork_stage=pipeline.stages[start].key, instructions=request.instructions,
        stages=lambda fork: [
            new_stage(fork, spec, position, old.get(spec.key) if position < start else None)
            for position, spec in enumerate(pipeline.stages)
        ],
        before_create=before_create,
    )


def new_fork(
    *,
    source: StreamingJob,
    job: Any,
    user: User,
    inputs: dict[str, Any],
    fork_stage: str,
    instructions: str,
    stages: Callable[[StreamingJob], list[Stage]],
    before_create: Callable[[], None] | None,
) -> StreamingJob:
    """Save the job's ``inputs`` and a new stream of it forked from ``source``, with the
    ``stages`` made for it, in one transaction, and hand it to a runner (forks and edits)."""
    if before_create is not None:
        before_create()
    try:
        with transaction.atomic():
            for name, value in inputs.items():
                setattr(job, name, value)
            job.save()
            fork = StreamingJob.objects.create(
                type=source.type,
                job_id=job.pk,
                owner_id=job.owner_id,
                title=job.title,
                input_data=job.input_data(),
                enqueued_at=timezone.now(),
                waiting_for_slot=True,
                requested_by_id=user.pk,
                forked_from=source,
                fork_stage=fork_stage,
                instructions=instructions,
                offline_model=source.offline_model,
            )
            Stage.objects.bulk_create(stages(fork))
    except IntegrityError:
        raise Conflict("This job is generating; wait for it or cancel it first.") from None
    admit_waiting(fork.owner_id)
    fork.refresh_from_db()
    return fork


def new_stage(stream: StreamingJob, spec: Any, position: int, copy: Stage | None) -> Stage:
    """A fresh pending stage, or a completed one copied from the source stream."""
    stage = Stage(
        stream=stream,
        key=spec.key,
        title=spec.title,
        position=position,
        weight=spec.weight,
        depends_on=list(spec.reads),
    )
    if copy is not None and copy.status in KEPT:
        for name in ("status", "output", "data", "model", "tokens_in", "tokens_out",
                     "tokens_cached", "cost_usd", "cache_saved_usd", "attempts", "reasks",
                     "started_at", "finished_at"):
            setattr(stage, name, getattr(copy, name))
        stage.source = StageSource.COPIED
    return stage
