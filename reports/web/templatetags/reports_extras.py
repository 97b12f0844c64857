"""The progress component tag and the small filters its templates use."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import template

from reports.domain.formats import duration_label, tokens_label
from reports.domain.money import usd_label
from reports.domain.rendering import render_markdown
from reports.live import fragments as live
from reports.models import StreamingJob
from reports.streams.costs import stage_cost, stream_cost, version_cost
from reports.streams.snapshot import budget_of
from reports.web.forecasts import forecast_context, rerun_context

register = template.Library()


@register.inclusion_tag("reports/_progress.html", takes_context=True)
def streaming_report_progress(
    context: template.Context, stream: StreamingJob, show_details: bool = True
) -> dict[str, Any]:
    """``{% streaming_report_progress stream show_details=True %}``: the live progress card."""
    return {
        **live.progress_context(stream, show_details=show_details),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("reports/_forecast.html")
def forecast_panel(job_type: str, form: Any = None) -> dict[str, Any]:
    """``{% forecast_panel "report" form %}``: what generating will cost and take, from the
    form's inputs so far (refreshed by htmx as they change)."""
    data = form.data if form is not None and form.is_bound else None
    return forecast_context(job_type, data)


@register.filter
def duration(seconds: float | timedelta | None) -> str:
    """12 s, 3 min 05 s, 1 h 02 min (the one rule, ``reports.domain.formats``)."""
    return duration_label(seconds)


@register.filter
def tokens(count: int | None) -> str:
    """A token count, written the one way ("12,480")."""
    return tokens_label(count)


@register.filter
def cost(stream: StreamingJob, stages: list[dict[str, Any]] | None = None) -> str:
    """What the stream spent, by the one rule: "$0.42", "≈ $0.0031", "free (offline)",
    "local", "no price set". ``stages``: the template's stage dicts (else they are read)."""
    rows = [item["obj"] for item in stages] if stages else list(stream.stages.all())
    return stream_cost(stream, rows).label


@register.filter
def price_hint(stream: StreamingJob, stages: list[dict[str, Any]] | None = None) -> str:
    """How to price the stream's models when it has none ("" otherwise)."""
    rows = [item["obj"] for item in stages] if stages else list(stream.stages.all())
    found = stream_cost(stream, rows)
    return found.note if found.status == "no_price" else ""


@register.filter
def stage_cost_label(stage: Any) -> str:
    """One stage's cost, by the same rule ("no price set" in a row of numbers)."""
    return stage_cost(stage).label


@register.filter
def stage_cost_note(stage: Any) -> str:
    """Why a stage's cost is what it is, and how to price its model if it has no price."""
    return stage_cost(stage).note


@register.filter
def tokens_per_second(stage: Any) -> float | None:
    """Tokens the model wrote per second of the stage's run (None before it ran)."""
    seconds = stage.duration_s()
    return stage.tokens_out / seconds if seconds and stage.tokens_out else None


@register.filter
def version_cost_label(report: Any) -> str:
    """What a document version's change cost, by the same rule."""
    return version_cost(report).label


@register.filter
def usd(value: Any) -> str:
    """An amount in dollars, written the one way ("$0.42", "$0.0031")."""
    return "unknown" if value is None else usd_label(value)


@register.filter
def budget(stream: StreamingJob) -> Decimal | None:
    """What the stream may spend in USD (its own budget, else the site's; None: no cap)."""
    return budget_of(stream)


@register.filter
def suggested_budget(value: Decimal | None) -> str:
    """A higher budget to offer when one was reached: twice the old one."""
    return "" if value is None else f"{(value * 2).normalize():f}"


@register.filter
def rerun_forecast(stream: StreamingJob, key: str) -> dict[str, Any]:
    """The forecast of writing the stage ``key`` of ``stream`` again (labels)."""
    return rerun_context(stream, [key])


@register.filter
def under_review(stream: StreamingJob, stages: list[dict[str, Any]]) -> list[Any]:
    """The stages (rows) of the template's ``stages`` that wait for their review."""
    gates = set(stream.review_gates(item["obj"] for item in stages))
    return [item["obj"] for item in stages if item["obj"].key in gates]


@register.filter
def stage_title(key: str, stages: list[dict[str, Any]]) -> str:
    """The title of the stage ``key`` among the template's stages, or the key itself."""
    for stage in stages:
        if stage["obj"].key == key:
            return str(stage["obj"].title)
    return key


@register.filter
def markdown(text: str) -> str:
    """Markdown to sanitized HTML (the one renderer, ``reports.domain.rendering``)."""
    return render_markdown(text)
