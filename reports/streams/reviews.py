"""Review points: a stream created with ``review_after`` stops before the stages that
depend on a review stage until its owner approves, edits or reruns it
(docs/api.md, "Review points").

While it waits the stream is ``awaiting_review``: not active, so it holds no runner,
lease, thread or active-stream slot, for as long as it takes. Approving or editing the
stage marks it reviewed and enqueues the stream again; a rerun sends the stage back to
the model (with the person's instructions) and it waits for review once more.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from pydantic import ValidationError as SchemaError

from reports.models import (
    AttemptStatus,
    Stage,
    StageAttempt,
    StageStatus,
    StreamingJob,
    StreamStatus,
)
from reports.pipelines import OutputInvalid, StageSpec, get_pipeline
from reports.pipelines.inputs import error_details
from reports.pipelines.registry import UnknownJobType
from reports.streams.services import (
    Conflict,
    InvalidInput,
    NotFound,
    owned_stream,
    restart_stream,
)

if TYPE_CHECKING:
    from reports.streams.services import User

ACTIONS = ("approve", "edit", "rerun")
# Instructions for a rerun are told to the stage's prompt; the same bound as a fork's.
INSTRUCTIONS_MAX_LENGTH = 2000


def edited_output(spec: StageSpec, text: Any, data: Any) -> tuple[str, Any]:
    """A person's replacement for a stage's output as (text, parsed data), checked as the
    model's answer is: a JSON stage against its schema, InvalidInput with the errors."""
    if data is not None:
        if not spec.json_output and spec.parse is None:
            raise InvalidInput("This stage writes prose: send its text as text, not data.",
                               details=[{"field": "data", "message": "a prose stage"}])
        if spec.output is not None:
            try:
                spec.output.model_validate(data)
            except SchemaError as exc:
                errors = error_details(exc.errors(include_url=False, include_input=False))
                said = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
                raise InvalidInput(f"The data does not fit the stage's schema ({said}).",
                                   details=errors) from None
        text = json.dumps(data, indent=2, ensure_ascii=False)
    if not isinstance(text, str) or not text.strip():
        field = "data" if spec.json_output else "text"
        raise InvalidInput(f"Send the stage's new {field}.",
                           details=[{"field": field, "message": "required, not blank"}])
    try:
        parsed = spec.parse_text(text)
    except OutputInvalid as exc:
        raise InvalidInput(f"The text does not fit the stage: {exc}.",
                           details=[{"field": "text", "message": str(exc)}]) from None
    return text, parsed


def review_stage(
    *, stream_id: uuid.UUID | str, key: str, user: User, action: str,
    text: Any = None, data: Any = None, instructions: str = "",
) -> StreamingJob:
    """Approve, edit or rerun the stage ``key`` of a stream awaiting its review; the
    stream goes on (a rerun waits for review again once the stage is written anew)."""
    stream = owned_stream(stream_id, user)
    stages = list(stream.stages.in_order())
    stage = next((s for s in stages if s.key == key), None)
    if stage is None:
        raise NotFound(f"No stage {key!r} in this stream.")
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}.",
                           details=[{"field": "action", "message": "approve, edit or rerun"}])
    if stream.status != StreamStatus.AWAITING_REVIEW or key not in stream.review_gates(stages):
        raise Conflict(f"Stage {key!r} is not waiting for review.")
    if len(instructions) > INSTRUCTIONS_MAX_LENGTH:
        raise InvalidInput(f"instructions: at most {INSTRUCTIONS_MAX_LENGTH} characters.",
                           details=[{"field": "instructions", "message": "too long"}])
    try:
        spec = get_pipeline(stream.type).stage(key)
    except (UnknownJobType, KeyError) as exc:
        raise Conflict(f"This stream's pipeline has no stage {key!r}: {exc}") from None
    if action == "rerun":
        with transaction.atomic():
            Stage.objects.filter(pk=stage.pk).update(instructions=instructions.strip())
            return restart_stream(stream, Q(key=key), allowed=(StreamStatus.AWAITING_REVIEW,),
                                  user=user)
    with transaction.atomic():
        if action == "edit":
            output, parsed = edited_output(spec, text, data)
            # The model's answer stays, as the attempt that wrote it.
            last = stage.attempt_log.filter(status=AttemptStatus.SUCCEEDED).order_by("-number")
            StageAttempt.objects.filter(pk__in=last.values("pk")[:1], output="").update(
                output=stage.output
            )
            Stage.objects.filter(pk=stage.pk).update(output=output, data=parsed, cut_off=False)
        reviewed = [*stream.reviewed, key]
        return restart_stream(stream, Q(pk__in=[]), allowed=(StreamStatus.AWAITING_REVIEW,),
                              user=user, fields={"reviewed": reviewed})


def stage_under_review(stream: StreamingJob, stages: list[Stage]) -> list[Stage]:
    """The stages of ``stream`` that wait for their review, in order."""
    gates = set(stream.review_gates(stages))
    return [s for s in stages if s.key in gates and s.status == StageStatus.COMPLETED]
