"""``/ws/live/``: the socket of our HTML pages (reports/live/consumers.py has what it
shares with the JSON socket: subscriptions, ownership, ordering and snapshots).

Boundary events are sent as the fragments they change (reports/live/fragments.py);
a running stage's text as its whole box, rendered, when a render is due
(reports/live/running.py).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from reports.domain.events import FINAL_EVENTS, EventType
from reports.live import fragments as live
from reports.live.access import visible_ids
from reports.live.consumers import MAX_STREAMS_PER_SOCKET, StreamWatcherConsumer, saved_text
from reports.live.guards import warden
from reports.live.hub import Delivery
from reports.live.running import (
    live_tokens_fragment,
    notice_cleared_fragment,
    output_fragment,
    output_target,
    running_texts,
)
from reports.models import Stage, StreamingJob
from reports.streams.selectors import parse_uuid


class LivePageConsumer(StreamWatcherConsumer):
    """``/ws/live/?streams=<id>,<id>``: HTML fragments for one page, many streams.

    A page subscribes to a stream it starts later by sending ``{"subscribe": "<id>"}``
    (``static/js/live.js``), so one socket serves every card on the page. Card pages add
    ``details=0``: their snapshots then leave out the stage list and its text.
    """

    repairs_text = False

    async def connect(self) -> None:
        # (stream id, stage key) of the stages running as this page shows them -> the
        # seq of the text this socket last sent / when it may send a newer render (loop
        # time).
        self.text_sent: dict[tuple[str, str], int] = {}
        self.text_due: dict[tuple[str, str], float] = {}
        # (stream id, stage key) -> the seq of a retry or waiting notice the page shows:
        # removed once text newer than it is sent (the retried attempt streams).
        self.notices: dict[tuple[str, str], int] = {}
        # Card pages: the token count each running stage last sent, and when.
        self.tokens_sent: dict[tuple[str, str], int] = {}
        self.tokens_sent_at: dict[tuple[str, str], float] = {}
        await super().connect()

    def initial_stream_ids(self) -> list[str] | None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.show_details = query.get("details", ["1"])[-1] != "0"
        ids = [v for value in query.get("streams", []) for v in value.split(",") if v]
        return ids if len(ids) <= MAX_STREAMS_PER_SOCKET else None

    def snapshot_key(self) -> Any:
        return ("html", self.show_details)

    def snapshot_text(self, stream: StreamingJob, stages: list[Stage]) -> str:
        return live.render_component(stream, show_details=self.show_details, oob=True)

    async def forward(self, delivery: Delivery) -> None:
        event = delivery.event
        if event["type"] == EventType.STAGE_DELTA:
            if self.show_details:
                await self.forward_text(event)
            else:
                await self.forward_tokens(event)
            return
        # Rendered once per event and kind of page in this process, shared by its sockets.
        key = f"html-{int(self.show_details)}"
        html = delivery.encoded.get(key)
        if html is None:
            html = delivery.encoded[key] = await live.fragments_for(
                delivery.event, self.show_details
            )
        self.stage_changed(event, html)
        pair = (event["stream_id"], event.get("stage") or "")
        if pair in self.notices and f'id="stage-{pair[0]}-{pair[1]}-notice"' not in html:
            # Rendered after the stage moved on: no notice on the page to take away later.
            del self.notices[pair]
        if html:
            await self.send(text_data=html)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        stream_id = content.get("subscribe")
        if not isinstance(stream_id, str) or len(self.watches) >= MAX_STREAMS_PER_SOCKET:
            return
        # A new subscription checks the socket's access anew (revoked: it closes).
        if self.guard is None or not await warden().confirm(self.guard):
            return
        if await visible_ids(self.scope["user"], [stream_id]):
            await self.watch(str(parse_uuid(stream_id)))

    async def forward_text(self, event: dict[str, Any]) -> None:
        """Take in a delta; send its stage's rendered text now or when the render is due."""
        stream_id, key = event["stream_id"], event["stage"]
        watch = self.watches.get(stream_id)
        if watch is None or (stream_id, key) not in self.text_sent:
            # Not running as this page shows it: a delta that arrives after its stage's
            # end (or the snapshot that shows the end) has no box to go into.
            return
        await running_texts().apply(event, saved_text(watch.feed, event))
        self.text_due[(stream_id, key)] = float("-inf")

    async def forward_tokens(self, event: dict[str, Any]) -> None:
        """A card page shows no text, but its Tokens move with it: take in the delta and
        send the stage's count at most once per render interval."""
        stream_id, key = event["stream_id"], event["stage"]
        watch = self.watches.get(stream_id)
        if watch is None:
            return
        running = running_texts()
        await running.apply(event, saved_text(watch.feed, event))
        pair = (stream_id, key)
        if pair not in self.text_due:
            now = asyncio.get_running_loop().time()
            self.text_due[pair] = max(now, self.tokens_sent_at.get(pair, -running.interval)
                                      + running.interval)

    def stage_changed(self, event: dict[str, Any], html: str) -> None:
        """A boundary event, sent as ``html``: its stage row rendered again from the
        database, which may be ahead of the event (the stage has ended since)."""
        stream_id, key, kind = event["stream_id"], event.get("stage"), event["type"]
        if kind in FINAL_EVENTS:
            self.forget_texts(stream_id)
            return
        if key is None:
            return
        pair = (stream_id, key)
        # (A row without the live box holds an empty, hidden stand-in: _stage.html.)
        has_box = f'id="{output_target(stream_id, key)}" class="stage-output ' in html
        if kind in (EventType.STAGE_RETRYING, EventType.STAGE_WAITING) and has_box:
            # Still running: the row shows the checkpoint; the newer text follows.
            self.text_sent[pair] = -1
            self.text_due[pair] = float("-inf")
            self.notices[pair] = event["seq"]
            return
        self.notices.pop(pair, None)
        # Started again, or stopped: the box is new, or gone (nothing may target it).
        running_texts().reset(stream_id, key, event["seq"])
        self.text_due.pop(pair, None)
        if kind == EventType.STAGE_STARTED and has_box:
            self.text_sent[pair] = -1
        else:
            self.text_sent.pop(pair, None)

    def forget_texts(self, stream_id: str) -> None:
        """No stage of the stream runs on this page, nor shows a notice (until a
        snapshot or an event says so)."""
        for texts in (self.text_due, self.text_sent, self.notices):
            for pair in [p for p in texts if p[0] == stream_id]:
                del texts[pair]

    async def resync(self, stream_id: str, not_before: float = float("-inf")) -> None:
        self.forget_texts(stream_id)
        await super().resync(stream_id, not_before)
        watch = self.watches[stream_id]
        for key in watch.text_len:  # the running stages, shown as the snapshot has them
            self.text_sent[(stream_id, key)] = watch.snapshot_seq
            self.text_due[(stream_id, key)] = float("-inf")

    def idle_timeout(self) -> float | None:
        if not self.text_due:
            return None
        return max(0.0, min(self.text_due.values()) - asyncio.get_running_loop().time())

    async def when_idle(self) -> None:
        """Send each running stage's newest render that is due and not sent yet (a card
        page: its token count)."""
        running = running_texts()
        now = asyncio.get_running_loop().time()
        if not self.show_details:
            for pair, due in list(self.text_due.items()):
                if due > now:
                    continue
                del self.text_due[pair]
                count = running.tokens_out(*pair)  # (0: nothing held yet; the card has its own)
                if count and count != self.tokens_sent.get(pair):
                    self.tokens_sent[pair], self.tokens_sent_at[pair] = count, now
                    await self.send(text_data=live_tokens_fragment(*pair, count))
            return
        for pair, due in list(self.text_due.items()):
            if due > now:
                continue
            seq, html = await running.render(*pair, now)
            if pair in self.text_sent and seq > self.text_sent[pair]:
                self.text_sent[pair] = seq
                parts = [output_fragment(*pair, html),
                         live_tokens_fragment(*pair, running.tokens_out(*pair))]
                notice = self.notices.get(pair)
                if notice is not None and seq > notice:
                    del self.notices[pair]
                    parts.append(notice_cleared_fragment(*pair))
                await self.send(text_data="".join(parts))
            later = running.due(*pair)
            if later is None:
                del self.text_due[pair]
            else:
                self.text_due[pair] = later
