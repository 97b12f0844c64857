"""What the progress card shows when things fail: per-stage errors, Retry, Resume and
Cancel only when they apply, and a budget stop that reads differently from a cancel."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from reports.live import fragments as live
from reports.models import Stage, StageStatus, StreamingJob, StreamStatus
from reports.providers import PermanentError
from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream
from reports.runtime.leases import claim
from reports.streams import services

pytestmark = pytest.mark.django_db(transaction=True)


def buttons(html: str) -> list[str]:
    """The visible labels of the card's buttons, in order."""
    return [
        re.sub(r"\s+", " ", label).strip()
        for attrs, label in re.findall(r"<button([^>]*)>(.*?)</button>", html, re.S)
        if " hidden" not in attrs  # shown by live.js only where it applies
    ]


def stage_fragment(html: str, stream: Any, key: str) -> str:
    match = re.search(rf'<li id="stage-{stream.pk}-{key}".*?</li>', html, re.S)
    assert match, f"no fragment for stage {key}"
    return match.group(0)


def card(stream: Any) -> str:
    stream.refresh_from_db()
    return live.render_component(stream)


def test_a_failed_stage_shows_its_error_and_a_retry_button(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script(
        "outline", Script(error=PermanentError("Bad key <b>x</b> (401).", kind="auth"))
    )
    stream = make_stream()
    run_stream(stream.pk)
    html = card(stream)

    outline = stage_fragment(html, stream, "outline")
    assert 'class="stage stage-failed"' in outline
    assert 'class="stage-error" role="alert"' in outline
    assert "Outline failed after 1 attempt: Bad key &lt;b&gt;x&lt;/b&gt; (401)." in outline
    assert "An administrator must fix the key, then Resume." in outline
    assert "<b>x</b>" not in html  # provider text is escaped
    assert buttons(outline) == ["Retry"]
    assert f"/streams/{stream.pk}/stages/outline/retry/" in outline
    # Pending stages cannot be retried; finished ones can.
    assert buttons(stage_fragment(html, stream, "sections")) == []
    assert buttons(stage_fragment(html, stream, "brief")) == ["Retry"]
    summary = html.split('<ol class="stages"')[0]
    assert 'badge badge-failed">Failed<' in summary
    assert buttons(summary) == ["Resume"]
    assert 'class="stream-error" role="alert"' in summary


def test_a_running_stream_offers_cancel_only(make_stream: Any, fake_provider: FakeProvider) -> None:
    stream = make_stream()
    assert claim(stream.pk, "live-runner")
    html = card(stream)

    assert buttons(html) == ["Cancel"]
    assert 'badge badge-running">Running<' in html


def test_a_completed_stream_offers_stage_retries_only(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    html = card(stream)

    assert set(buttons(html)) == {"Retry"}
    assert buttons(html).count("Retry") == Stage.objects.filter(stream=stream).count()
    assert "Open report" in html


def test_a_requested_cancel_shows_as_cancelling(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    claim(stream.pk, "runner-elsewhere")
    StreamingJob.objects.filter(pk=stream.pk).update(cancel_requested=True, cancel_reason="user")
    html = card(stream)

    assert buttons(html) == ["Cancelling…"]
    assert re.search(r"<button[^>]*disabled[^>]*>Cancelling…", html)


def test_an_interrupted_stream_says_it_is_recovering_and_offers_resume(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    StreamingJob.objects.filter(pk=stream.pk).update(
        status=StreamStatus.RUNNING,
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=3),
    )
    html = card(stream)

    assert ">Recovering<" in html
    assert "picked up again automatically" in html
    assert buttons(html) == ["Cancel", "Resume"]


def test_a_user_cancel_and_a_budget_stop_read_differently(
    make_stream: Any, fake_provider: FakeProvider, user: User, settings: Any
) -> None:
    cancelled = make_stream(title="Cancelled one")
    services.cancel_job(stream_id=cancelled.pk, user=user)

    settings.LLM_MODEL = "gpt-4o-mini"  # a priced model, so spending can be measured
    stopped = make_stream(title="Over budget")
    StreamingJob.objects.filter(pk=stopped.pk).update(budget_usd=Decimal("0.0001"))
    assert run_stream(stopped.pk) == StreamStatus.FAILED
    stopped.refresh_from_db()
    assert (stopped.cancel_reason, stopped.error_kind) == ("budget", "budget_exceeded")
    assert fake_provider.stage_keys == ["brief"]  # nothing was spent after the limit

    user_html, budget_html = card(cancelled), card(stopped)
    assert 'data-cancel-reason="user"' in user_html
    assert 'badge badge-cancelled">Cancelled<' in user_html
    assert "Cancelled: no more tokens are spent." in user_html
    assert "budget" not in user_html.lower()

    assert 'badge badge-failed badge-budget">Budget reached<' in budget_html
    assert "spent of a $0.00010 budget" in budget_html
    assert "resume with a higher budget to go on" in budget_html
    assert 'name="budget_usd"' in budget_html  # the new budget goes with Resume
    assert "Cancelled: no more tokens" not in budget_html
    for html in (user_html, budget_html):
        assert "Resume" in buttons(html) and "Cancel" not in buttons(html)

    user_event = live.render_event_html(
        {"type": "stream.cancelled", "stream_id": str(cancelled.pk), "reason": "user", "seq": 1}
    )
    budget_event = live.render_event_html(
        {"type": "stream.failed", "stream_id": str(stopped.pk), "error_kind": "budget_exceeded",
         "seq": 1}
    )
    assert "Generation cancelled." in user_event
    assert "the cost budget was reached" in budget_event


def test_a_cancelled_stage_keeps_its_partial_text_on_the_card(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    StreamingJob.objects.filter(pk=stream.pk).update(
        status=StreamStatus.RUNNING,
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=3),
    )
    Stage.objects.filter(stream=stream, key="brief").update(
        status=StageStatus.RUNNING, output="The objective <i>is</i>"
    )
    services.cancel_job(stream_id=stream.pk, user=user)
    brief = stage_fragment(card(stream), stream, "brief")

    assert 'class="stage stage-cancelled"' in brief
    assert "the text so far is kept below" in brief
    assert "The objective &lt;i&gt;is&lt;/i&gt;" in brief


def test_live_fragments_carry_failures_and_retries(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script("brief", Script(error=PermanentError("Nope (400).", kind="bad_request")))
    stream = make_stream()
    run_stream(stream.pk)

    failed = live.render_event_html(
        {"type": "stage.failed", "stream_id": str(stream.pk), "stage": "brief", "seq": 5}
    )
    assert (
        f'<li id="stage-{stream.pk}-brief" class="stage stage-failed" hx-swap-oob="true">' in failed
    )
    assert "Brief analysis failed after 1 attempt: Nope (400)." in failed
    assert f'id="stream-{stream.pk}-summary"' in failed and ">Resume</button>" in failed
    assert "Brief analysis failed." in failed  # the polite announcement

    Stage.objects.filter(stream=stream, key="brief").update(
        status=StageStatus.RUNNING, error="", error_kind=""
    )
    retrying = live.render_event_html(
        {
            "type": "stage.retrying",
            "stream_id": str(stream.pk),
            "stage": "brief",
            "seq": 6,
            "attempt": 1,
            "error": "The model is rate limited (429).",
            "delay_s": 1.5,
        }
    )
    assert 'class="stage-retrying" role="status"' in retrying
    assert "Attempt 1 failed: The model is rate limited (429). Retrying in 1.5 s" in retrying


def test_the_stream_page_shows_the_true_state_without_javascript(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    fake_provider.script("context", Script(error=PermanentError("Bad key (401).", kind="auth")))
    stream = make_stream()
    run_stream(stream.pk)
    client = Client()
    client.force_login(user)

    page = client.get(f"/streams/{stream.pk}/").content.decode()

    assert "Context and assumptions failed after 1 attempt" in page
    assert ">Resume</button>" in page
    response = client.post(f"/streams/{stream.pk}/resume/")
    assert response.status_code == 302
    stream.refresh_from_db()
    assert stream.status == StreamStatus.PENDING


def test_an_invalid_output_failure_shows_what_the_model_wrote(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    """Issue 31, item 16: "not valid JSON (Expecting value at line 1)" and no way to see
    what the model wrote."""
    settings.LLM_INVALID_OUTPUT_REASKS = 0
    fake_provider.script("outline", *[Script(text="Sure! <b>Here</b> is an outline.")] * 3)
    stream = make_stream()
    assert run_stream(stream.pk) == "failed"
    outline = stage_fragment(card(stream), stream, "outline")
    assert "<summary>What the model wrote</summary>" in outline
    assert "Sure! &lt;b&gt;Here&lt;/b&gt; is an outline." in outline  # as text, escaped
    assert "shown below the error" in outline
    # Other failures have no such box.
    assert "What the model wrote" not in stage_fragment(card(stream), stream, "brief")
