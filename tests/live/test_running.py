"""Running stages' text is sent to pages rendered (Markdown, JSON as lists), whole, and
rendered at most once per interval per stage per process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.utils import timezone

from reports.domain.events import EventType, envelope, make_event, stream_group
from reports.domain.rendering import parse_partial_json, render_data
from reports.live.running import RunningTexts, output_html, running_texts
from reports.models import Stage, StageStatus, StreamingJob
from tests.conftest import session_cookie

ORIGIN = (b"origin", b"http://localhost")


def delta(seq: int, text: str, offset: int, stage: str = "context") -> dict[str, Any]:
    return make_event(EventType.STAGE_DELTA, seq=seq, stream_id="s1", stage=stage, text=text,
                      offset=offset)


async def no_checkpoint(stream_id: str, key: str) -> str:
    raise AssertionError("the checkpoint was read although the text was whole")


async def open_page_socket(
    asgi_app: Any, stream: Any, user: User, query: str = ""
) -> tuple[WebsocketCommunicator, str]:
    """A page's live socket to ``stream``, logged in as ``user``, and its snapshot."""
    cookie = await database_sync_to_async(session_cookie)(user)
    communicator = WebsocketCommunicator(
        asgi_app, f"/ws/live/?{query}streams={stream.pk}", headers=[ORIGIN, cookie]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator, await communicator.receive_from(timeout=5)


@pytest.fixture
def texts() -> RunningTexts:
    running = RunningTexts(interval=0.3)
    running.types["s1"] = "report"  # (no stream row needed for the stage kind)
    return running


@pytest.mark.asyncio
async def test_a_stage_is_rendered_at_most_once_per_interval(texts: RunningTexts) -> None:
    await texts.apply(delta(1, "## Plan\n\n", 0), no_checkpoint)
    assert await texts.render("s1", "context", now=10.0) == (1, "<h2>Plan</h2>\n")
    await texts.apply(delta(2, "**First** step", 9), no_checkpoint)
    await texts.apply(delta(3, ", then more.", 23), no_checkpoint)

    # Too soon: the last render again, and when a newer one may be made.
    assert await texts.render("s1", "context", now=10.1) == (1, "<h2>Plan</h2>\n")
    assert texts.due("s1", "context") == pytest.approx(10.3)
    seq, html = await texts.render("s1", "context", now=10.3)
    assert seq == 3
    assert html == "<h2>Plan</h2>\n<p><strong>First</strong> step, then more.</p>\n"
    assert texts.due("s1", "context") is None  # nothing newer to render
    assert texts.entries[("s1", "context")].renders == 2


@pytest.mark.asyncio
async def test_repeated_and_older_deltas_change_nothing(texts: RunningTexts) -> None:
    await texts.apply(delta(1, "One ", 0), no_checkpoint)
    await texts.apply(delta(2, "two ", 4), no_checkpoint)
    # Another socket's copies: trimmed, repeated, older.
    await texts.apply({**delta(2, "o ", 6)}, no_checkpoint)
    await texts.apply(delta(1, "One ", 0), no_checkpoint)
    assert texts.entries[("s1", "context")].text == "One two "


@pytest.mark.asyncio
async def test_a_gap_is_filled_from_the_checkpoint(texts: RunningTexts) -> None:
    async def checkpoint(stream_id: str, key: str) -> str:
        return "Text the process never saw. "

    await texts.apply(delta(7, "And the rest.", 28), checkpoint)
    assert (await texts.render("s1", "context", now=0.0))[1] == (
        "<p>Text the process never saw. And the rest.</p>\n"
    )


@pytest.mark.asyncio
async def test_a_restarted_stage_forgets_its_old_text(texts: RunningTexts) -> None:
    await texts.apply(delta(1, "First attempt", 0), no_checkpoint)
    texts.reset("s1", "context", seq=5)
    await texts.apply(delta(4, " late copy of the old attempt", 13), no_checkpoint)
    assert await texts.render("s1", "context", now=0.0) == (5, "")
    await texts.apply(delta(6, "Second", 0), no_checkpoint)
    assert await texts.render("s1", "context", now=0.0) == (6, "<p>Second</p>\n")


def test_json_text_so_far_reads_as_a_list() -> None:
    outline = [{"title": "Where things stand", "purpose": "Describe the position."},
               {"title": "Options", "purpose": "Compare them."}]
    text = json.dumps(outline, indent=2)
    half = text[: text.index("Compare") + 3]
    assert parse_partial_json(half) == [outline[0], {"title": "Options", "purpose": "Com"}]
    html = output_html(half, json_output=True)
    assert html.startswith("<ul><li><strong>Where things stand</strong><ul><li><b>Purpose:</b>")
    assert "{" not in html and '"' not in html
    assert render_data(outline) == output_html(text, json_output=True)


def test_model_markup_in_json_is_escaped() -> None:
    html = render_data({"title": "<script>x</script>", "note": "<img src=x onerror=y>"})
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_page_socket_gets_rendered_text_not_one_render_per_delta(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    stream = await database_sync_to_async(make_stream)()
    await database_sync_to_async(
        Stage.objects.filter(stream=stream, key="context").update
    )(status=StageStatus.RUNNING)
    communicator, snapshot = await open_page_socket(asgi_app, stream, user)
    target = f'id="stage-{stream.pk}-context-output"'
    assert target in snapshot

    layer = get_channel_layer()
    assert layer is not None
    text, count = "", 20
    for seq in range(1, count + 1):
        piece = "## Context\n\n" if seq == 1 else f"**Point {seq}** holds. "
        event = make_event(EventType.STAGE_DELTA, seq=seq, stream_id=stream.pk,
                           stage="context", text=piece, offset=len(text))
        text += piece
        await layer.group_send(stream_group(stream.pk), envelope(event))

    fragments: list[str] = []
    while f"<strong>Point {count}</strong> holds." not in (fragments or [""])[-1]:
        fragments.append(await communicator.receive_from(timeout=5))
    await communicator.disconnect()

    for html in fragments:
        assert html.startswith(f'<div {target} hx-swap-oob="innerHTML"><h2>Context</h2>')
        assert "**" not in html and "##" not in html
    # Whole every time (a replacement), and far fewer renders than deltas.
    assert fragments[-1].count("<strong>") == count - 1
    assert len(fragments) < count
    assert running_texts().entries[(str(stream.pk), "context")].renders < count


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_delta_for_a_stage_the_page_shows_finished_sends_nothing(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    """A delta delivered after its stage's end (or after the snapshot, or the row drawn
    for its start, that shows the end) has no box to go into: sending it made htmx log
    oobErrorNoTarget on the page."""
    stream = await database_sync_to_async(make_stream)()
    await database_sync_to_async(
        Stage.objects.filter(stream=stream, key="context").update
    )(status=StageStatus.COMPLETED, output="## Context")
    communicator, snapshot = await open_page_socket(asgi_app, stream, user)
    assert f'id="stage-{stream.pk}-context-output" class="stage-output ' not in snapshot

    layer = get_channel_layer()
    assert layer is not None
    events = [
        make_event(EventType.STAGE_DELTA, seq=1, stream_id=stream.pk, stage="context",
                   text="## Context", offset=0),
        # The row drawn for this start shows the stage as the database has it: ended.
        make_event(EventType.STAGE_STARTED, seq=2, stream_id=stream.pk, stage="context"),
        make_event(EventType.STAGE_DELTA, seq=3, stream_id=stream.pk, stage="context",
                   text="## Context", offset=0),
        make_event(EventType.STAGE_STARTED, seq=4, stream_id=stream.pk, stage="outline"),
    ]
    for event in events:
        await layer.group_send(stream_group(stream.pk), envelope(event))
    frames = [await communicator.receive_from(timeout=5) for _ in range(2)]
    await communicator.disconnect()
    assert f'id="stage-{stream.pk}-context"' in frames[0]
    assert f'id="stage-{stream.pk}-outline"' in frames[1]
    assert not any('context-output" hx-swap-oob' in frame for frame in frames)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_tokens_move_with_the_text_and_a_retry_notice_goes_when_the_retry_streams(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    """Issue 31, items 5 and 7: the card said "0 in · 0 out" while text streamed, and
    "Retrying in 0.7 s…" stayed up while the retried attempt streamed."""
    stream = await database_sync_to_async(make_stream)()
    await database_sync_to_async(
        Stage.objects.filter(stream=stream, key="context").update
    )(status=StageStatus.RUNNING, started_at=timezone.now())
    await database_sync_to_async(StreamingJob.objects.filter(pk=stream.pk).update)(
        status="running", tokens_out=100
    )
    communicator, snapshot = await open_page_socket(asgi_app, stream, user)
    live = f'id="stream-{stream.pk}-live-context"'
    assert live in snapshot and f'id="stream-{stream.pk}-tokens" data-tokens-out="100"' in snapshot

    layer = get_channel_layer()
    assert layer is not None

    async def send(kind: EventType, seq: int, **fields: Any) -> None:
        event = make_event(kind, seq=seq, stream_id=stream.pk, stage="context", **fields)
        await layer.group_send(stream_group(stream.pk), envelope(event))

    async def until(text: str) -> str:
        while True:
            html = await communicator.receive_from(timeout=5)
            if text in html:
                return html

    await send(EventType.STAGE_DELTA, 1, text="x" * 400, offset=0)
    html = await until(live)
    assert f'{live} data-tokens-out="100"' in html  # 400 characters, about 100 tokens
    notice = f'id="stage-{stream.pk}-context-notice"'
    await send(EventType.STAGE_RETRYING, 2, attempt=1, error="The server said 503.",
               error_kind="server_error", delay_s=0.7)
    html = await until("Retrying in 0.7 s")
    assert notice in html
    await send(EventType.STAGE_DELTA, 3, text="The retried attempt writes.", offset=0)
    html = await until("The retried attempt writes.")
    assert f'<p {notice} hx-swap-oob="delete"></p>' in html
    await communicator.disconnect()


@pytest.mark.django_db
def test_a_reload_shows_the_newest_text_this_process_holds_not_the_older_checkpoint(
    make_stream: Any,
) -> None:
    """Issue 31, item 14: a reload mid-stream showed shorter text for about 0.3 s."""
    from reports.live import fragments as live
    from reports.live.running import RunningText

    stream = make_stream()
    Stage.objects.filter(stream=stream, key="context").update(
        status=StageStatus.RUNNING, output="Checkpointed start.", started_at=timezone.now()
    )
    StreamingJob.objects.filter(pk=stream.pk).update(status="running")
    stream.refresh_from_db()
    pair = (str(stream.pk), "context")
    running_texts().entries[pair] = RunningText(
        json_output=False, text="Checkpointed start. Then more **in bold"
    )
    try:
        html = live.render_component(stream)
    finally:
        running_texts().entries.pop(pair, None)
    assert "Then more <strong>in bold</strong>" in html
    # Text from another attempt (not a continuation of the checkpoint) is not used.
    running_texts().entries[pair] = RunningText(json_output=False, text="Another attempt, longer")
    try:
        html = live.render_component(stream)
    finally:
        running_texts().entries.pop(pair, None)
    assert "Another attempt" not in html and "Checkpointed start." in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_card_page_gets_the_running_stages_tokens_without_its_text(
    asgi_app: Any, make_stream: Any, user: User
) -> None:
    """Issue 31, item 5, on the lists: the cards' Tokens stood still while text streamed."""
    stream = await database_sync_to_async(make_stream)()
    await database_sync_to_async(
        Stage.objects.filter(stream=stream, key="context").update
    )(status=StageStatus.RUNNING, started_at=timezone.now())
    await database_sync_to_async(StreamingJob.objects.filter(pk=stream.pk).update)(
        status="running"
    )
    communicator, _ = await open_page_socket(asgi_app, stream, user, "details=0&")
    layer = get_channel_layer()
    assert layer is not None
    event = make_event(EventType.STAGE_DELTA, seq=1, stream_id=stream.pk, stage="context",
                       text="y" * 800, offset=0)
    await layer.group_send(stream_group(stream.pk), envelope(event))
    html = await communicator.receive_from(timeout=5)
    assert html == (f'<span id="stream-{stream.pk}-live-context" data-tokens-out="200" '
                    'hx-swap-oob="true" hidden></span>')
    await communicator.disconnect()


@pytest.mark.django_db
def test_a_cancelled_stages_text_so_far_shows_no_literal_asterisk(make_stream: Any) -> None:
    from reports.live import fragments as live

    stream = make_stream()
    Stage.objects.filter(stream=stream, key="sections").update(
        status=StageStatus.CANCELLED, output="## Where\n\n*This section answers: Where does"
    )
    html = live.render_component(stream)
    assert "<em>This section answers: Where does</em>" in html
