"""The forecast panel of the job forms: what a generation will cost and take, per stage
and in total, shown before Generate and refreshed (htmx) as the inputs change."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from reports.domain.money import usd_label
from reports.models import StreamingJob
from reports.pipelines import UnknownJobType, get_pipeline
from reports.providers.pricing import is_free
from reports.streams.forecast import Forecast, forecast_job, forecast_rerun

# The panel's inside: swapped into the panel, which stays (and keeps its trigger).
TEMPLATE = "reports/_forecast.html#body"


def cost_label(value: Any, model: str) -> str:
    """A forecast cost as people read it ("about $0.42", "free", "no price set")."""
    if value is None:
        return "no price set"
    if model and is_free(model):
        return "free"
    return usd_label(value)


def forecast_context(job_type: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The panel's context for ``job_type`` from the form's (possibly partial) ``data``:
    only the job's own inputs are read, and only to size the prompts."""
    pipeline = get_pipeline(job_type)
    fields = pipeline.input_schema.model_fields
    inputs = {name: str(data[name]) for name in fields if data and data.get(name)}
    forecast: Forecast = forecast_job(job_type=job_type, input_data=inputs)
    titles = {spec.key: spec.title for spec in pipeline.stages}
    rows = [
        {"key": s.key, "title": titles[s.key], "seconds": s.seconds, "runs": s.runs,
         "cost": cost_label(s.cost_usd, forecast.model), "tokens": s.tokens_in + s.tokens_out}
        for s in forecast.stages
    ]
    return {
        "job_type": job_type,
        "forecast": forecast,
        "stages": rows,
        "total_cost": cost_label(forecast.cost_usd, forecast.model),
        "total_tokens": sum(row["tokens"] for row in rows),
        # Some stages have history and others none: those are estimated.
        "estimated": [row["title"] for row in rows if not row["runs"]] if forecast.runs else [],
    }


def rerun_context(stream: StreamingJob, keys: list[str]) -> dict[str, Any]:
    """What running ``keys`` of ``stream`` again will cost and take, as labels."""
    forecast = forecast_rerun(stream, keys)
    model = forecast["basis"]["model"]
    cost = forecast["cost_usd"]
    return {"cost": cost_label(None if cost is None else Decimal(cost), model),
            "seconds": forecast["seconds"], "runs": forecast["basis"]["runs"]}


@require_POST
@login_required
def forecast_panel(request: HttpRequest, job_type: str) -> HttpResponse:
    """The panel for the form's current inputs (the form posts itself here on change)."""
    try:
        context = forecast_context(job_type, request.POST)
    except UnknownJobType:
        raise Http404("No such job type.") from None
    return render(request, TEMPLATE, context)
