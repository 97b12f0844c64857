"""HTML fragments for live pages: rendered once per event, then swapped by id.

Rendering happens in the web process, when the first page socket there needs an
event's fragments (``fragments_for``), and is shared by every other socket of that
process: once per event per web process, and never for streams no page watches (API
clients get JSON). Workers only publish events, so their threads spend no time on
templates or the queries behind them.

Ids are stable and include the stream id, so several streams can share a page:
``stream-<id>`` (the whole component), ``stream-<id>-summary`` (bar, totals, actions),
``stage-<id>-<key>`` (one stage row) and ``stage-<id>-<key>-output`` (its text, as
rendered HTML: a running stage's box is refilled by reports/live/running.py).
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
from reports.domain.events import BOUNDARY_EVENTS, FINAL_EVENTS, EventType
from reports.domain.rendering import render_data
from reports.live.running import is_json_stage, output_html, running_texts
from reports.models import (
    AttemptStatus,
    Report,
    Stage,
    StageAttempt,
    StageStatus,
    StreamingJob,
)
from reports.pipelines import get_pipeline, graph
from reports.pipelines.registry import UnknownJobType
from reports.providers.base import rough_tokens
from reports.runtime.admission import queue_position
from reports.streams.eta import Estimate, elapsed, estimate

# Stages whose text a page shows (a running one in a box that follows it).
SHOWN_TEXT = frozenset({StageStatus.RUNNING, StageStatus.CANCELLED, StageStatus.COMPLETED})


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
    elapsed_seconds, ticking = elapsed(stages)
    return {
        "stream": stream,
        "stages": [stage_context(stream, stage, timing) for stage in stages],
        "eta_seconds": timing.eta_seconds,
        "eta_floor": timing.eta_floor,
        "estimating": timing.estimating,
        "elapsed_seconds": elapsed_seconds,
        "elapsed_ticking": ticking and stream.is_generating,
        "report": report,
        "show_details": show_details,
        "sid": sid(stream.pk),
        "interrupted": stream.is_interrupted(),
        "queue_position": queue_position(stream),
        "kept_from": kept_from(stream),
    }


def kept_from(stream: StreamingJob) -> str:
    """Where a fork's copied stages come from, as its card says it: "v1", or "the
    earlier run" when that stream made no document ("" for a stream that is no fork)."""
    if not stream.forked_from_id:
        return ""
    source = Report.objects.filter(stream_id=stream.forked_from_id).order_by("-version").first()
    return f"v{source.version}" if source is not None else "the earlier run"


def stage_context(
    stream: StreamingJob, stage: Stage, timing: Estimate | None = None
) -> dict[str, Any]:
    """What ``_stage.html`` needs for one stage row."""
    return {
        "obj": stage,
        "sid": sid(stream.pk),
        "editable": stage.key in editable_keys(stream.type),
        "slow": bool(timing and stage.key in timing.slow),
        "slow_after": timing.slow_after.get(stage.key) if timing else None,
        "html": stage_html(stream, stage),
        "rejected_output": rejected_output(stage),
        # What a running stage has written so far (its checkpoint), for the card's totals;
        # every stage has its span (0 unless running), so a count that arrives after a
        # newer render of the card still has its target.
        "live_tokens_out": rough_tokens(stage.output) if stage.status == StageStatus.RUNNING else 0,
    }


def editable_keys(job_type: str) -> frozenset[str]:
    """The stages of the job type a person may edit (none for an unknown type)."""
    try:
        pipeline = get_pipeline(job_type)
    except UnknownJobType:
        return frozenset()
    return frozenset(spec.key for spec in pipeline.stages if graph.is_editable(spec))


def rejected_output(stage: Stage) -> str:
    """What the model wrote in the attempt that failed a stage for invalid output ("" for
    any other stage): the person can see why it was refused (issue 31, item 16)."""
    if stage.status != StageStatus.FAILED or stage.error_kind != "invalid_output":
        return ""
    found = (
        StageAttempt.objects.filter(stage=stage, status=AttemptStatus.FAILED)
        .exclude(output="").order_by("-number").values_list("output", flat=True).first()
    )
    return found or ""


def stage_html(stream: StreamingJob, stage: Stage) -> str:
    """A stage's text as the page shows it: rendered Markdown, or a JSON stage's data as
    lists (finished: its parsed data; running: what the text holds so far)."""
    if stage.status == StageStatus.COMPLETED and stage.data:
        return render_data(stage.data)
    text = stage.output
    if stage.status == StageStatus.RUNNING:
        # This process may hold newer text than the checkpoint (saved about once a
        # second): a reload must not show shorter text than the page had (issue 31).
        newer = running_texts().text_of(sid(stream.pk), stage.key)
        if len(newer) > len(text) and newer.startswith(text):
            text = newer
    if not text or stage.status not in SHOWN_TEXT:
        return ""
    return output_html(text, json_output=is_json_stage(stream.type, stage.key),
                       partial=stage.status in (StageStatus.RUNNING, StageStatus.CANCELLED))


def render_component(stream: StreamingJob, *, show_details: bool = True, oob: bool = False) -> str:
    context = progress_context(stream, show_details=show_details)
    context["oob"] = oob
    return render_to_string("reports/_progress.html", context)


def render_event_html(event: dict[str, Any], details: bool = True) -> str:
    """The fragments one event changes, for every watcher of the stream. ``details``
    False (card pages): only what a card shows, never a stage row or its text, so no
    fragment arrives without a target."""
    stream_id = event["stream_id"]
    if event["type"] not in BOUNDARY_EVENTS:
        # A delta's text is rendered whole and throttled (reports/live/running.py).
        return ""
    stream = StreamingJob.objects.filter(pk=stream_id).first()
    if stream is None:
        return ""
    context = progress_context(stream, show_details=details)
    titles = {item["obj"].key: item["obj"].title for item in context["stages"]}
    announcement = announcement_for(event, titles)
    if event["type"] in FINAL_EVENTS:
        # Every stage's actions change when the stream stops: swap the whole card.
        html = render_to_string("reports/_progress.html", {**context, "oob": True,
                                                            "announcement": announcement})
        return html
    parts: list[str] = [render_to_string("reports/_summary.html", {**context, "oob": True})]
    stage_key = event.get("stage") if details else None
    for stage in context["stages"]:
        if stage["obj"].key == stage_key:
            # Why the stage is waiting, until it streams.
            if event["type"] == EventType.STAGE_RETRYING:
                stage = {**stage, "retrying": event}
            if event["type"] == EventType.STAGE_WAITING and event.get("note"):
                stage = {**stage, "waiting": event["note"]}
            parts.append(
                render_to_string("reports/_stage.html", {**context, "stage": stage, "oob": True})
            )
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
        return "Done: the document is ready to open."
    if kind == EventType.STREAM_FAILED:
        if event.get("error_kind") == "budget_exceeded":
            return "Generation stopped: the cost budget was reached."
        return "Generation stopped on an error."
    if kind == EventType.STREAM_CANCELLED:
        return "Generation cancelled."
    return ""


# (stream id, seq, details) -> the render of that event, shared by this process's sockets.
_rendered: OrderedDict[tuple[str, int, bool], asyncio.Future[str]] = OrderedDict()
RENDERED_KEPT = 1024


async def fragments_for(event: dict[str, Any], details: bool = True) -> str:
    """``render_event_html(event, details)``, rendered at most once per event (and kind
    of page) in this process.

    A boundary fragment shows the stream as it is when rendered, which is never older
    than the event; the running stages' text that follows replaces the box's content
    (reports/live/running.py), so it is whole whatever came before.
    """
    if event["type"] not in BOUNDARY_EVENTS:
        return ""  # a delta: the socket sends its stage's rendered text (running.py)
    key = (event["stream_id"], event["seq"], details)
    loop = asyncio.get_running_loop()
    render = _rendered.get(key)
    if render is None or render.get_loop() is not loop:
        render = asyncio.ensure_future(database_sync_to_async(render_event_html)(event, details))
        _rendered[key] = render
        while len(_rendered) > RENDERED_KEPT:
            _rendered.popitem(last=False)
    return await asyncio.shield(render)
