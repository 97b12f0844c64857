"""The live card tells the truth: the actions that apply arrive with the events (no
reload), times are this run's, and a card page never receives a fragment it has no
target for."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.live import fragments as live
from reports.models import StageStatus, StreamStatus
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams import services

pytestmark = pytest.mark.django_db(transaction=True)


def retry_buttons(html: str) -> list[str]:
    return re.findall(r'aria-label="Retry ([^"]+)"', html)


def event(stream: Any, kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "stream_id": str(stream.pk), "seq": 99, **extra}


def test_the_completion_event_brings_every_stages_retry(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    html = live.render_event_html(event(stream, "stream.completed"))
    titles = [stage.title for stage in stream.stages.in_order()]
    assert retry_buttons(html) == titles  # as after a reload, not only the last stage
    assert f'id="stream-{stream.pk}" ' in html and 'hx-swap-oob="true"' in html
    assert "Done: the document is ready to open." in html  # the polite live region
    assert re.search(r'class="button small primary" href="/documents/', html)  # the report


def test_a_retry_leaves_no_stale_times_on_the_stages_it_reruns(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    services.retry_stage(stream_id=stream.pk, key="outline", user=user)
    stages = {stage.key: stage for stage in stream.stages.all()}
    rerun = [key for key, stage in stages.items() if stage.status == StageStatus.PENDING]
    assert "outline" in rerun and len(rerun) > 1
    assert all(stages[key].started_at is None for key in rerun)
    assert stages["brief"].started_at is not None  # kept stages keep their times
    stream.refresh_from_db()
    html = live.render_component(stream)
    for key in rerun:
        row = re.search(rf'<li id="stage-{stream.pk}-{key}".*?</li>', html, re.S)
        assert row is not None
        meta = re.search(r'<span class="stage-meta">(.*?)</span>\s*</div>', row.group(0), re.S)
        assert meta is not None, row.group(0)
        assert not meta.group(1).strip(), meta.group(1)


def test_card_pages_get_no_stage_fragments(make_stream: Any, fake_provider: FakeProvider) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    delta = event(stream, "stage.delta", stage="brief", text="Hello", offset=0)
    assert live.render_event_html(delta, details=False) == ""
    for kind in ("stage.completed", "stream.completed"):
        html = live.render_event_html(event(stream, kind, stage="brief"), details=False)
        assert html and f'id="stage-{stream.pk}-' not in html
        assert live.render_event_html(event(stream, kind, stage="brief"))  # pages get them
