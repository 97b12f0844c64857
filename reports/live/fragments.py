"""HTML fragments for live pages: rendered once per event, then swapped by id.

Rendering happens in the web process, when the first page socket there needs an
event's fragments (``fragments_for``), and is shared by every other socket of that
process: once per event per web process, and never for streams no page watches (API
clients get JSON). Workers only publish events, so their threads spend no time on
templates or the queries behind them.

Ids are stable and include the stream id, so several streams can share a page:
``stream-<id>`` (the whole component), ``stream-<id>-summary`` (bar, totals, actions),
``stage-<id>-<key>`` (one stage row) and ``stage-<id>-<key>-output`` (its text).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils.html import escape

from reports.documents.versions import latest_version
from reports.domain.events import BOUNDARY_EVENTS, EventType
from reports.domain.rendering import render_markdown
from reports.models import Stage, StageStatus, StreamingJob
from reports.runtime.admission import queue_position
from reports.streams.eta import Estimate, estimate


def sid(stream_id: uuid.UUID | str) -> str:
    """The stream id as fragment ids spell it."""
    return str(stream_id)


def progress_context(
    stream: StreamingJob, stages: list[Stage] | None = None, *, show_details: bool = True
) -> dict[str, Any]:
    """Everything the progress templates need for one stream."""
    if stages is None:
        stages = list(stream.stages.in_order())
    report = getattr(stream, "_report_cache", None)
    if report is None:
        report = latest_version(stream)
    timing = estimate(stream, stages)  # once per render: it reads the history
    return {
        "stream": stream,
        "stages": [stage_context(stream, stage, timing) for stage in stages],
        "eta_seconds": timing.eta_seconds,
        "report": report,
        "show_details": show_details,
        "sid": sid(stream.pk),
        "interrupted": stream.is_interrupted(),
        "queue_position": queue_position(stream),
    }


def stage_context(
    stream: StreamingJob, stage: Stage, timing: Estimate | None = None
) -> dict[str, Any]:
    """What ``_stage.html`` needs for one stage row."""
    return {
        "obj": stage,
        "sid": sid(stream.pk),
        "slow": bool(timing and stage.key in timing.slow),
        "slow_after": timing.slow_after.get(stage.key) if timing else None,
        "html": render_markdown(stage.output)
        if stage.status == StageStatus.COMPLETED and not stage.data
        else "",
    }


def render_component(stream: StreamingJob, *, show_details: bool = True, oob: bool = False) -> str:
    context = progress_context(stream, show_details=show_details)
    context["oob"] = oob
    return render_to_string("reports/_progress.html", context)


def render_event_html(event: dict[str, Any]) -> str:
    """The fragments one event changes, for every watcher of the stream."""
    stream_id = event["stream_id"]
    if event["type"] == EventType.STAGE_DELTA:
        target = f"stage-{sid(stream_id)}-{event['stage']}-output"
        swap = "beforeend" if event.get("offset", 0) else "innerHTML"
        return f'<div id="{target}" hx-swap-oob="{swap}">{escape(event["text"])}</div>'
    if event["type"] not in BOUNDARY_EVENTS:
        return ""
    stream = StreamingJob.objects.filter(pk=stream_id).first()
    if stream is None:
        return ""
    context = progress_context(stream)
    parts: list[str] = [render_to_string("reports/_summary.html", {**context, "oob": True})]
    stage_key = event.get("stage")
    for stage in context["stages"]:
        if stage["obj"].key == stage_key:
            # Why the stage is waiting, until it streams.
            if event["type"] == EventType.STAGE_RETRYING:
                stage = {**stage, "retrying": event}
            parts.append(
                render_to_string("reports/_stage.html", {**context, "stage": stage, "oob": True})
            )
    titles = {item["obj"].key: item["obj"].title for item in context["stages"]}
    announcement = announcement_for(event, titles)
    if announcement:
        target = f"stream-{sid(stream_id)}-announce"
        parts.append(f'<div id="{target}" hx-swap-oob="innerHTML">{escape(announcement)}</div>')
    return "".join(parts)


def announcement_for(event: dict[str, Any], titles: dict[str, str]) -> str:
    """A short sentence for screen readers (the polite live region)."""
    kind = event["type"]
    stage = event.get("stage", "")
    title = titles.get(stage, stage)
    if kind == EventType.STAGE_COMPLETED:
        return f"{title} completed."
    if kind == EventType.STAGE_FAILED:
        return f"{title} failed."
    if kind == EventType.STREAM_COMPLETED:
        return "The report is ready."
    if kind == EventType.STREAM_FAILED:
        return "Generation stopped on an error."
    if kind == EventType.STREAM_CANCELLED:
        if event.get("reason") == "budget":
            return "Generation stopped: the cost budget was reached."
        return "Generation cancelled."
    return ""


# (stream id, seq) -> the render of that event, shared by this process's sockets.
_rendered: OrderedDict[tuple[str, int], asyncio.Future[str]] = OrderedDict()
RENDERED_KEPT = 1024


async def fragments_for(event: dict[str, Any]) -> str:
    """``render_event_html(event)``, rendered at most once per event in this process.

    A boundary fragment shows the stream as it is when rendered, which is never older
    than the event; deltas that follow stay whole because watchers repair text by
    offset (reports/deltas.py).
    """
    if event["type"] not in BOUNDARY_EVENTS:
        return render_event_html(event)  # a delta: no database, nothing to share
    key = (event["stream_id"], event["seq"])
    loop = asyncio.get_running_loop()
    render = _rendered.get(key)
    if render is None or render.get_loop() is not loop:
        render = asyncio.ensure_future(database_sync_to_async(render_event_html)(event))
        _rendered[key] = render
        while len(_rendered) > RENDERED_KEPT:
            _rendered.popitem(last=False)
    return await asyncio.shield(render)
