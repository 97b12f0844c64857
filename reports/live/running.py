"""Running stages' text as rendered HTML, at most once per ``RENDER_INTERVAL`` per stage
per web process.

A page shows a running stage's text the way it will look when finished: Markdown
rendered (and sanitized) by reports/domain/rendering.py, a JSON stage as nested lists.
Rendering the whole text on every delta would cost a render per delta per stage, and
the text grows: instead this process keeps each watched running stage's text whole
(deltas continue it by ``offset``; a gap is filled from the checkpoint) and renders it
when a page socket asks, unless it was rendered less than ``RENDER_INTERVAL`` ago. Every
socket of the process shares the render; a socket that was told "not yet" asks again
when the interval is over (``due``), so the newest text always arrives.

A fragment replaces the box's content (``innerHTML``), so it is whole whatever the
socket missed before.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.utils.html import escape

from reports.domain.rendering import (
    close_open_markup,
    parse_partial_json,
    render_data,
    render_markdown,
)
from reports.live.deltas import follow_text
from reports.models import StreamingJob
from reports.pipelines.registry import UnknownJobType, get_pipeline
from reports.providers.base import rough_tokens

RENDER_INTERVAL = 0.3  # seconds between two renders of one stage's text in one process
KEPT = 512  # running stages remembered per process (the oldest are forgotten first)

SavedText = Callable[[str, str], Awaitable[str]]


def output_html(text: str, *, json_output: bool, partial: bool = False) -> str:
    """A stage's text (finished or not) as the page shows it; ``partial``: still arriving
    (emphasis its last line opened reads as emphasis already, not as literal ``*``)."""
    if json_output:
        value = parse_partial_json(text)
        if value is not None:
            return render_data(value)
    # (also what a JSON stage wrote that is not JSON)
    return render_markdown(close_open_markup(text) if partial else text)


def output_target(stream_id: str, key: str) -> str:
    """The id of a running stage's text box (reports/templates/reports/_stage.html)."""
    return escape(f"stage-{stream_id}-{key}-output")


def output_fragment(stream_id: str, key: str, html: str) -> str:
    """The out-of-band swap that replaces a running stage's box content."""
    return f'<div id="{output_target(stream_id, key)}" hx-swap-oob="innerHTML">{html}</div>'


def live_tokens_fragment(stream_id: str, key: str, tokens_out: int) -> str:
    """The out-of-band swap that tells the card how many tokens a running stage has
    written so far (counted from its text; the card adds it to the stream's totals)."""
    target = escape(f"stream-{stream_id}-live-{key}")
    return f'<span id="{target}" data-tokens-out="{tokens_out}" hx-swap-oob="true" hidden></span>'


def notice_cleared_fragment(stream_id: str, key: str) -> str:
    """The out-of-band swap that removes a running stage's retry or waiting notice: the
    retried attempt is streaming."""
    target = escape(f"stage-{stream_id}-{key}-notice")
    return f'<p id="{target}" hx-swap-oob="delete"></p>'


def is_json_stage(job_type: str, key: str) -> bool:
    """Whether the job type's stage ``key`` writes JSON (False if unknown)."""
    try:
        pipeline = get_pipeline(job_type)
    except UnknownJobType:
        return False
    return any(spec.key == key and spec.json_output for spec in pipeline.stages)


def _stream_type(stream_id: str) -> str:
    return StreamingJob.objects.filter(pk=stream_id).values_list("type", flat=True).first() or ""


@dataclass
class RunningText:
    """One running stage's text in this process, and its latest render."""

    json_output: bool
    text: str = ""
    # The seq of the newest delta in ``text`` (or of the event that reset it).
    seq: int = -1
    text_len: dict[str, int] = field(default_factory=dict)
    html: str = ""
    html_seq: int = -1  # the seq ``html`` shows (-1: nothing rendered yet)
    rendered_at: float = float("-inf")
    renders: int = 0
    rendering: asyncio.Future[None] | None = None  # a render under way


class RunningTexts:
    """This process's running stages: their whole text and shared, throttled renders."""

    def __init__(self, interval: float = RENDER_INTERVAL, kept: int = KEPT) -> None:
        self.interval = interval
        self.kept = kept
        self.entries: OrderedDict[tuple[str, str], RunningText] = OrderedDict()
        self.types: OrderedDict[str, str] = OrderedDict()

    async def _entry(self, stream_id: str, key: str) -> RunningText:
        entry = self.entries.get((stream_id, key))
        if entry is None:
            job_type = self.types.get(stream_id)
            if job_type is None:
                job_type = self.types[stream_id] = await database_sync_to_async(_stream_type)(
                    stream_id
                )
                while len(self.types) > self.kept:
                    self.types.popitem(last=False)
            entry = self.entries[(stream_id, key)] = RunningText(is_json_stage(job_type, key))
            entry.text_len[key] = 0  # holds nothing: a first delta past 0 reads the checkpoint
            while len(self.entries) > self.kept:
                self.entries.popitem(last=False)
        return entry

    async def apply(self, event: dict[str, Any], saved_text: SavedText | None = None) -> None:
        """Take in one delta (any socket's copy of it; older or repeated ones are ignored)."""
        stream_id, key, seq = event["stream_id"], event["stage"], event["seq"]
        entry = await self._entry(stream_id, key)
        if seq <= entry.seq:
            return
        fitted = await follow_text(event, entry.text_len, saved_text)
        if fitted is None:
            return  # the checkpoint has not caught up yet: a later delta brings it all
        offset = fitted.get("offset", 0)
        entry.text = entry.text[:offset] + fitted["text"]
        entry.seq = seq

    def reset(self, stream_id: str, key: str, seq: int) -> None:
        """The stage started again, or stopped: forget its text (deltas before ``seq``
        that a slower socket still holds are then ignored)."""
        entry = self.entries.get((stream_id, key))
        if entry is not None:
            self.entries[(stream_id, key)] = RunningText(
                entry.json_output, seq=seq, text_len={key: 0}, html_seq=seq
            )

    def text_of(self, stream_id: str, key: str) -> str:
        """The newest text this process holds of a running stage ("" if none)."""
        entry = self.entries.get((stream_id, key))
        return entry.text if entry is not None else ""

    def tokens_out(self, stream_id: str, key: str) -> int:
        """The tokens a running stage has written so far, counted from its text."""
        entry = self.entries.get((stream_id, key))
        return rough_tokens(entry.text) if entry is not None else 0

    async def render(self, stream_id: str, key: str, now: float) -> tuple[int, str]:
        """``(seq, html)`` of the newest render, made now (in a thread: a long text takes
        milliseconds the event loop must not spend) if the text changed since the last
        one and that was at least ``interval`` ago. Sockets asking meanwhile share it."""
        entry = self.entries.get((stream_id, key))
        if entry is None:
            return -1, ""
        due = entry.seq > entry.html_seq and now - entry.rendered_at >= self.interval
        if entry.rendering is None and due:
            entry.rendered_at = now
            entry.rendering = asyncio.ensure_future(self._render(entry))
        if entry.rendering is not None:
            await asyncio.shield(entry.rendering)
        # (A reset meanwhile made a new entry: this one is what the caller's page shows.)
        return entry.html_seq, entry.html

    async def _render(self, entry: RunningText) -> None:
        seq, text = entry.seq, entry.text
        try:
            html = await asyncio.to_thread(
                output_html, text, json_output=entry.json_output, partial=True
            )
        finally:
            entry.rendering = None
        if seq > entry.html_seq:
            entry.html, entry.html_seq = html, seq
            entry.renders += 1

    def due(self, stream_id: str, key: str) -> float | None:
        """When a newer render may be made (loop time), or None if the last is current."""
        entry = self.entries.get((stream_id, key))
        if entry is None or entry.seq <= entry.html_seq:
            return None
        return entry.rendered_at + self.interval


_running = RunningTexts()


def running_texts() -> RunningTexts:
    """This process's running texts (every page socket of the process shares them)."""
    return _running
