"""HTML fragments for live pages: rendered once per event, then swapped by id.

Ids are stable and include the stream id, so several streams can share a page:
``stream-<id>`` (the whole component), ``stream-<id>-summary`` (bar, totals, actions),
``stage-<id>-<key>`` (one stage row) and ``stage-<id>-<key>-output`` (its text).
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils.html import escape

from reports.eta import eta_seconds
from reports.models import Stage, StreamingJob
from reports.rendering import render_markdown

BOUNDARY_EVENTS = {
    "stage.started",
    "stage.completed",
    "stage.failed",
    "stage.cancelled",
    "stage.retrying",
    "stream.progress",
    "stream.completed",
    "stream.failed",
    "stream.cancelled",
}


def sid(stream_id: Any) -> str:
    return str(stream_id)


def progress_context(stream: StreamingJob, stages: list[Stage] | None = None, *,
                     show_details: bool = True) -> dict[str, Any]:
    """Everything the progress templates need for one stream."""
    if stages is None:
        stages = list(stream.stages.in_order())
    report = getattr(stream, "_report_cache", None)
    if report is None:
        from reports.models import Report

        report = Report.objects.filter(stream=stream).only("pk").first()
    return {
        "stream": stream,
        "stages": [stage_context(stream, stage) for stage in stages],
        "eta_seconds": eta_seconds(stream, stages),
        "report": report,
        "show_details": show_details,
        "sid": sid(stream.pk),
    }


def stage_context(stream: StreamingJob, stage: Stage) -> dict[str, Any]:
    return {
        "obj": stage,
        "sid": sid(stream.pk),
        "html": render_markdown(stage.output) if stage.status == "completed" and not stage.data else "",
    }


def render_component(stream: StreamingJob, *, show_details: bool = True, oob: bool = False) -> str:
    context = progress_context(stream, show_details=show_details)
    context["oob"] = oob
    return render_to_string("reports/_progress.html", context)


def render_event_html(event: dict[str, Any]) -> str:
    """The fragments one event changes, for every watcher of the stream."""
    stream_id = event["stream_id"]
    if event["type"] == "stage.delta":
        target = f"stage-{sid(stream_id)}-{event['stage']}-output"
        swap = "beforeend" if event.get("offset", 0) else "innerHTML"
        return f'<div id="{target}" hx-swap-oob="{swap}">{escape(event["text"])}</div>'
    if event["type"] not in BOUNDARY_EVENTS:
        return ""
    stream = StreamingJob.objects.filter(pk=stream_id).first()
    if stream is None:
        return ""
    context = progress_context(stream)
    parts = [render_to_string("reports/_summary.html", {**context, "oob": True})]
    stage_key = event.get("stage")
    for stage in context["stages"]:
        if stage["obj"].key == stage_key:
            parts.append(render_to_string("reports/_stage.html", {**context, "stage": stage, "oob": True}))
    announcement = announcement_for(event, stream)
    if announcement:
        parts.append(
            f'<div id="stream-{sid(stream_id)}-announce" hx-swap-oob="innerHTML">{escape(announcement)}</div>'
        )
    return "".join(parts)


def announcement_for(event: dict[str, Any], stream: StreamingJob) -> str:
    """A short sentence for screen readers (the polite live region)."""
    kind = event["type"]
    stage = event.get("stage", "")
    title = stream.stages.filter(key=stage).values_list("title", flat=True).first() if stage else ""
    if kind == "stage.completed":
        return f"{title} completed."
    if kind == "stage.failed":
        return f"{title} failed."
    if kind == "stream.completed":
        return "The report is ready."
    if kind == "stream.failed":
        return "Generation stopped on an error."
    if kind == "stream.cancelled":
        return "Generation cancelled."
    return ""
