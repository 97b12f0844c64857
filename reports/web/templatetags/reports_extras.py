"""The progress component tag and the small filters its templates use."""

from __future__ import annotations

from typing import Any

from django import template

from reports.domain.money import money_label
from reports.domain.rendering import render_markdown
from reports.live import fragments as live
from reports.models import StreamingJob

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


@register.filter
def duration(seconds: float | None) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    if seconds is None:
        return "\u2013"  # an en dash: no value yet
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def stream_cost(stream: StreamingJob) -> str:
    """$0.0123, "≈ $0.01" when part of it is estimated, "unknown" when none is known."""
    return money_label(stream.cost_usd, complete=stream.cost_complete)


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
