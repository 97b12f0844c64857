"""Pages for changing one's mind: fork a stream from a stage with an edited brief, see
what it will reuse and rerun first, and a job's versions with their diffs."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from pydantic import ValidationError as SchemaError

from reports.documents.diff import diff_html
from reports.documents.versions import job_versions, versions_of
from reports.models import Report, StreamingJob
from reports.pipelines import Pipeline, get_pipeline
from reports.streams.forecast import summary
from reports.streams.forks import INSTRUCTIONS_MAX_LENGTH, ForkPlan, changed_inputs, plan_fork
from reports.streams.forks import fork_stream as fork_service
from reports.streams.selectors import parse_uuid, report_for_user, stream_for_user
from reports.streams.services import ServiceError
from reports.web.forms import SchemaForm, max_length
from reports.web.limits import check_creation_rate

LONG_TEXT = 300
FORK_FIELDS = ("from_stage", "instructions")
STALE_MESSAGE = (
    "Some stages you keep read what you changed, so the document would contradict "
    "itself. Rerun from the first of them, or click again to keep them as they are."
)


def _stream(request: HttpRequest, stream_id: str) -> StreamingJob:
    stream = stream_for_user(stream_id, request.user)
    if stream is None:
        raise Http404("No such stream.")
    return stream


def fork_form(pipeline: Pipeline, *args: Any, **kwargs: Any) -> SchemaForm:
    """The job type's inputs (made from its schema), the stage to rerun from, and
    optional instructions for the stages that run again."""

    class ForkForm(SchemaForm):
        schema = pipeline.input_schema
        # Long texts get a text area, as on the job's own form.
        widgets = {
            name: forms.Textarea(attrs={"rows": 3})
            for name, info in pipeline.input_schema.model_fields.items()
            if (max_length(info) or 0) > LONG_TEXT
        }

        def clean(self) -> dict[str, Any]:
            # The schema is the job's inputs; the fork's own two fields are not in it.
            own = {k: self.cleaned_data.pop(k) for k in FORK_FIELDS if k in self.cleaned_data}
            cleaned = super().clean()
            cleaned.update(own)
            return cleaned

    form = ForkForm(*args, **kwargs)
    form.fields["from_stage"] = forms.ChoiceField(
        label="Rerun from",
        choices=[(spec.key, spec.title) for spec in pipeline.stages],
        help_text="Stages before it are kept as they are; it and every stage after it "
        "run again with the edited brief.",
    )
    form.fields["instructions"] = forms.CharField(
        label="Extra instructions (optional)",
        required=False,
        max_length=INSTRUCTIONS_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Told to every stage that runs again.",
    )
    return form


def _edited_inputs(stream: StreamingJob, pipeline: Pipeline, form: SchemaForm) -> list[str]:
    """The input fields the (valid) form changes; none while it is not valid."""
    if not form.is_valid():
        return []
    data = {k: v for k, v in form.cleaned_data.items() if k not in FORK_FIELDS}
    try:
        inputs = pipeline.input_schema.model_validate({**stream.input_data, **data})
    except SchemaError:
        return []
    return changed_inputs(pipeline, stream.input_data, inputs)


def _plan_context(plan: ForkPlan) -> dict[str, Any]:
    return {"plan": plan, "forecast": summary(plan.forecast),
            "stale_keys": ",".join(stage.key for stage in plan.stale)}


@require_http_methods(["GET", "POST"])
@login_required
def fork_page(request: HttpRequest, stream_id: str) -> HttpResponse:
    """Change the brief and rerun from a stage; before the click the plan says what is
    kept, what runs, what it will cost, and which kept stages read what was changed
    (with a button to rerun from the first of them). Kept stages that would contradict
    the edit are never forked without that warning having been shown."""
    stream = _stream(request, stream_id)
    pipeline = get_pipeline(stream.type)
    keys = [spec.key for spec in pipeline.stages]
    start = request.GET.get("from_stage") or pipeline.stages[min(2, len(pipeline.stages) - 1)].key
    initial = {**stream.input_data, "from_stage": start}
    form = fork_form(pipeline, request.POST or None, initial=initial)
    # Read before any error is added to the form (which makes it invalid).
    changed = _edited_inputs(stream, pipeline, form) if form.is_bound else []
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        from_stage, instructions = data.pop("from_stage"), data.pop("instructions", "")
        if request.POST.get("rerun_from") in keys:
            from_stage = request.POST["rerun_from"]
        plan = plan_fork(stream, from_stage, changed)
        seen = request.POST.get("keep_stale", "")
        if plan.stale and seen != ",".join(stage.key for stage in plan.stale):
            form.add_error(None, STALE_MESSAGE)
        else:
            try:
                new = fork_service(stream_id=stream.pk, user=request.user,
                                   from_stage=from_stage, input_data=data,
                                   instructions=instructions,
                                   before_create=lambda: check_creation_rate(request))
            except ServiceError as exc:
                form.add_error(None, exc.message)
            else:
                return redirect(new)
    from_stage = form["from_stage"].value() or start
    if from_stage not in keys:
        from_stage = start
    plan = plan_fork(stream, from_stage, changed)
    return render(request, "reports/fork.html", {
        "stream": stream, "form": form, "pipeline": pipeline, **_plan_context(plan),
    })


@require_GET
@login_required
def fork_plan(request: HttpRequest, stream_id: str) -> HttpResponse:
    """The plan fragment for the form as it stands (htmx, as the person edits it)."""
    stream = _stream(request, stream_id)
    pipeline = get_pipeline(stream.type)
    form = fork_form(pipeline, request.GET)
    try:
        plan = plan_fork(stream, request.GET.get("from_stage", ""),
                         _edited_inputs(stream, pipeline, form))
    except ServiceError as exc:
        return HttpResponse(exc.message, status=400)
    return render(request, "reports/_fork_plan.html",
                  {"stream": stream, "oob_note": True, **_plan_context(plan)})


def with_previous(versions: list[Report]) -> list[Report]:
    """Newest first, each knowing the version before it (for its "what changed" link)."""
    for newer, older in zip(versions, [*versions[1:], None], strict=False):
        newer.previous = older  # type: ignore[attr-defined]
    return versions


@require_GET
@login_required
def versions_panel(request: HttpRequest, job_id: str) -> HttpResponse:
    """A job's versions (the job page refreshes it when a stream completes)."""
    pk = parse_uuid(job_id)
    versions = with_previous(list(job_versions(request.user, pk))) if pk else []
    return render(request, "reports/_versions.html", {"versions": versions, "job_id": job_id})


@require_GET
@login_required
def version_diff(request: HttpRequest, report_id: str, other_id: str) -> HttpResponse:
    a, b = report_for_user(report_id, request.user), report_for_user(other_id, request.user)
    if a is None or b is None:
        raise Http404("No such document.")
    old, new = sorted((a, b), key=lambda r: (r.version, r.created_at))
    return render(request, "reports/diff.html", {
        "old": old, "new": new, "diff": diff_html(old.markdown, new.markdown),
        "versions": versions_of(new, request.user),
    })
