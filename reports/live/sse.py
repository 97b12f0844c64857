"""Server-Sent Events: ``GET /api/streams/<stream_id>/events/``.

The same JSON events as the WebSocket, one per SSE message, with ``id:`` = ``seq``.
A fresh connection gets a ``snapshot`` first; a reconnect with ``Last-Event-ID`` gets
exactly the events after that id from the event log (``reports.events.eventlog``), or a
snapshot when it cannot: the log no longer reaches back that far, the id is ahead of
the stream, or it is not a number (docs/security.md). Live events are forwarded in
``seq`` order without duplicates; a gap (the channel layer dropped something) is
filled from the log or answered with a snapshot. A comment line every
``SSE_HEARTBEAT_SECONDS`` keeps proxies from closing an idle connection.

An async view streaming from an async generator: no thread per client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import HASH_SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from reports.domain.config import config
from reports.domain.events import SNAPSHOT, EventType
from reports.events.eventlog import event_log
from reports.live.deltas import follow_text
from reports.live.guards import Guard, warden
from reports.live.hub import Mailbox, hub
from reports.models import ACTIVE_STATUSES, ApiToken, StageStatus, StreamingJob
from reports.streams.selectors import stream_for_user, stream_snapshot

RETRY_MS = 2000
# The last message of a stream whose access was revoked (no id: it is no event).
REVOKED_MESSAGE = (
    'data: {"type":"error","error":"unauthorized","message":"Access revoked: sign in again."}\n\n'
)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, "details": None}, status=status)


# Larger ids are no seq this site sends (and not a valid Redis stream id).
MAX_EVENT_ID = 2**53


def _last_event_id(request: HttpRequest) -> int | None:
    """The id to resume after; None when absent or malformed (a snapshot then)."""
    # EventSource sends the header; ``?last_event_id=`` serves clients that cannot.
    raw = (request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_EVENT_ID)):
        return None
    value = int(raw)
    return value if value <= MAX_EVENT_ID else None


async def _user(request: HttpRequest) -> tuple[AbstractBaseUser | AnonymousUser, Guard]:
    """``Authorization: Bearer <token>`` (as the rest of the API), else the session; and
    the guard of that access (reports/live/guards.py)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        found = await sync_to_async(ApiToken.objects.token_for)(token.strip())
        if found is None:
            return AnonymousUser(), Guard(None)
        return found.user, Guard(found.user.pk, token_id=found.pk)
    user = await request.auser()
    session_hash = str(await request.session.aget(HASH_SESSION_KEY, ""))
    return user, Guard(user.pk, session_hash=session_hash)


@require_GET
async def stream_events(request: HttpRequest, stream_id: str) -> HttpResponseBase:
    """The stream's events as ``text/event-stream`` (owner or staff only)."""
    user, guard = await _user(request)
    if not user.is_authenticated:
        return _error(401, "unauthorized", "Log in first.")
    stream = await sync_to_async(stream_for_user)(stream_id, user)
    if stream is None:
        return _error(404, "not_found", "No such stream.")
    source = EventSource(str(stream.pk), _last_event_id(request), guard)
    response = StreamingHttpResponse(source.messages(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def sse_message(event: dict[str, Any]) -> str:
    """One SSE message: ``id:`` is the event's seq, ``data:`` its JSON (one line)."""
    return f"id: {event['seq']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


class EventSource:
    """One client's connection: what it has been sent, and what comes next."""

    def __init__(self, stream_id: str, last_event_id: int | None, guard: Guard) -> None:
        self.stream_id = stream_id
        self.last_event_id = last_event_id
        self.guard = guard
        self.last_seq: int | None = None
        # Characters of each running stage's text the client has (to repair deltas).
        self.text_len: dict[str, int] = {}

    async def messages(self) -> AsyncIterator[str]:
        """The response body: snapshot or replay, then live events and heartbeats."""
        # Join this process's feed of the stream before reading the log or the
        # snapshot, so nothing falls in between.
        mailbox, feeds, watch = Mailbox(), hub(), warden()
        self.guard.on_revoked = mailbox.interrupt  # the loop below then says so and ends
        await feeds.join(self.stream_id, mailbox)
        try:
            await watch.enter(self.guard)
            yield f"retry: {RETRY_MS}\n\n"
            replay = None
            if self.last_event_id is not None:
                replay = await self.replay_after(self.last_event_id)
            if replay is None:
                async for message in self.resync():
                    yield message
            else:
                self.last_seq = self.last_event_id
                for event in replay:
                    for message in await self.forward(event):
                        yield message
            heartbeat = float(config().sse_heartbeat_seconds)
            idle_check = min(heartbeat, float(config().live_idle_check_seconds))
            loop = asyncio.get_running_loop()
            last_sent = loop.time()
            while True:
                item = await mailbox.get(timeout=idle_check)
                if self.guard.revoked:
                    yield REVOKED_MESSAGE
                    return
                if item is None:
                    # Quiet: if the stream ended and its final event was dropped, catch up.
                    if await sync_to_async(self._finished_past_last_seq)():
                        async for message in self.catch_up():
                            yield message
                        last_sent = loop.time()
                    elif loop.time() - last_sent >= heartbeat:
                        yield ": keep-alive\n\n"
                        last_sent = loop.time()
                    continue
                last_sent = loop.time()
                _, delivery = item
                if delivery is None:  # fell behind (its backlog was dropped): catch up
                    async for message in self.catch_up():
                        yield message
                    continue
                async for text in self.live(delivery.event):
                    yield text
        finally:
            feeds.leave(self.stream_id, mailbox)
            watch.leave(self.guard)

    async def replay_after(self, last_id: int) -> list[dict[str, Any]] | None:
        """The events after ``last_id``, or None when they cannot be served from there:
        the log no longer reaches back to it, or it is ahead of any seq the stream has
        had (the client's id is from elsewhere; waiting for it would be silence)."""
        log = event_log()
        replay = await log.since(self.stream_id, last_id)
        if replay != []:
            return replay
        newest = await log.newest(self.stream_id)
        stored = await sync_to_async(self._stored_seq)()
        return replay if last_id <= max(newest or 0, stored) else None

    def _stored_seq(self) -> int:
        found = StreamingJob.objects.filter(pk=self.stream_id).values_list("seq", flat=True)
        return int(found.first() or 0)

    async def live(self, event: dict[str, Any]) -> AsyncIterator[str]:
        """Forward a live event; fill a gap before it from the log, or resync."""
        seq = event["seq"]
        if self.last_seq is not None and seq <= self.last_seq:
            return  # sent already (replayed, or part of the snapshot)
        if self.last_seq is not None and seq != self.last_seq + 1:
            missed = await event_log().since(self.stream_id, self.last_seq)
            if missed is None:
                async for message in self.resync():
                    yield message
            else:
                for earlier in missed:
                    if earlier["seq"] < seq:
                        for message in await self.forward(earlier):
                            yield message
        if self.last_seq is None or seq > self.last_seq:
            for message in await self.forward(event):
                yield message

    def _finished_past_last_seq(self) -> bool:
        """The stream has ended with events this client has not seen."""
        return (
            StreamingJob.objects.filter(pk=self.stream_id, seq__gt=self.last_seq or 0)
            .exclude(status__in=ACTIVE_STATUSES)
            .exists()
        )

    async def catch_up(self) -> AsyncIterator[str]:
        """What was missed, from the log, or a snapshot."""
        missed = await event_log().since(self.stream_id, self.last_seq or 0)
        if missed:
            for event in missed:
                for message in await self.forward(event):
                    yield message
        else:
            async for message in self.resync():
                yield message

    async def resync(self) -> AsyncIterator[str]:
        """A snapshot, then whatever the log holds after it."""
        snapshot, running = await sync_to_async(self._snapshot)()
        self.text_len = running
        self.last_seq = snapshot["seq"]
        yield sse_message({"type": SNAPSHOT, "seq": snapshot["seq"], "stream": snapshot})
        after = await event_log().since(self.stream_id, snapshot["seq"])
        for event in after or ():
            for message in await self.forward(event):
                yield message

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, int]]:
        stream = StreamingJob.objects.get(pk=self.stream_id)
        stages = list(stream.stages.in_order())
        running = {s.key: len(s.output) for s in stages if s.status == StageStatus.RUNNING}
        return stream_snapshot(stream, stages), running

    async def forward(self, event: dict[str, Any]) -> list[str]:
        """The message(s) for one event, with deltas made to continue the client's text."""
        self.last_seq = event["seq"]
        if event["type"] == EventType.STAGE_STARTED:
            self.text_len[event["stage"]] = 0
        elif event["type"] == EventType.STAGE_DELTA:
            repaired = await follow_text(event, self.text_len)
            return [] if repaired is None else [sse_message(repaired)]
        return [sse_message(event)]
