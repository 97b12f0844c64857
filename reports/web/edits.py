"""The page for editing one stage of a finished document by hand: the stage's text (or
its data, as JSON) in a form, and before the click which stages run again, which are
kept, and what the rerun will cost (docs/documents.md, "Versions, forks and edits")."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from reports.models import Stage, StreamingJob
from reports.pipelines import Pipeline, StageSpec
from reports.pipelines.edits import EDIT_MAX_LENGTH
from reports.pipelines.errors import OutputInvalid
from reports.pipelines.structured import loads, schema_for
from reports.streams.edits import EditPlan, edit_stage, editable_spec, plan_edit
from reports.streams.forecast import summary
from reports.streams.selectors import stream_for_user
from reports.streams.services import InvalidInput, NotFound, ServiceError
from reports.web.limits import check_creation_rate


def _editable(request: HttpRequest, stream_id: str, key: str,
              ) -> tuple[StreamingJob, Pipeline, StageSpec]:
    stream = stream_for_user(stream_id, request.user)
    if stream is None:
        raise Http404("No such stream.")
    try:
        pipeline, spec = editable_spec(stream, key)
    except (NotFound, InvalidInput):
        raise Http404("No such stage, or one that cannot be edited.") from None
    return stream, pipeline, spec


def initial_text(spec: StageSpec, stage: Stage | None) -> str:
    """What the form starts with: the stage's text, or its data as indented JSON (the
    object its schema describes)."""
    if stage is None:
        return ""
    if spec.output is None:
        return stage.output
    data = stage.data
    if isinstance(data, list) and spec.output.data_field:
        data = {spec.output.data_field: data}
    return json.dumps(data, indent=2, ensure_ascii=False) if data is not None else stage.output


def _titles(pipeline: Pipeline, keys: list[str]) -> list[str]:
    return [spec.title for spec in pipeline.stages if spec.key in set(keys)]


@require_http_methods(["GET", "POST"])
@login_required
def stage_edit_page(request: HttpRequest, stream_id: str, key: str) -> HttpResponse:
    """Edit one stage of a finished stream; the edit runs in a new stream (a fork)."""
    stream, pipeline, spec = _editable(request, stream_id, key)
    stage = stream.stages.filter(key=key).first()
    text = initial_text(spec, stage)
    errors: list[str] = []
    if request.method == "POST":
        text = request.POST.get("text", "")
        body: dict[str, Any] = {"text": text}
        if spec.output is not None:
            try:
                body = {"data": loads(text)}
            except OutputInvalid as exc:  # "not valid JSON (... at line n)"
                errors.append(f"The data is {exc}.")
        if not errors:
            try:
                new = edit_stage(stream_id=stream.pk, user=request.user, key=key, **body,
                                 before_create=lambda: check_creation_rate(request))
            except ServiceError as exc:
                errors.append(exc.message)
                for detail in exc.details or []:
                    where = detail.get("field") or ""
                    said = detail.get("message") or ""
                    if said and where != "key":  # (the key is not something to fix here)
                        errors.append(said if where == "text" else f"{where}: {said}")
            else:
                return redirect(new)
    busy = StreamingJob.objects.active().for_job(stream.type, stream.job_id).exists()
    plan: EditPlan | None = None if busy else plan_edit(stream, key)
    return render(request, "reports/stage_edit.html", {
        "stream": stream, "busy": busy, "pipeline": pipeline, "spec": spec, "stage": stage,
        "text": text,
        "errors": errors, "plan": plan, "max_length": EDIT_MAX_LENGTH,
        # A JSON stage's schema, refs inlined: the list editor is built from it.
        "schema": schema_for(spec.output).schema if spec.output is not None else None,
        "rerun": _titles(pipeline, plan.rerun) if plan else [],
        "copied": _titles(pipeline, plan.copied) if plan else [],
        "forecast": summary(plan.forecast) if plan else None,
    })
