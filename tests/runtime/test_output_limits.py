"""Text that was paid for is never thrown away: answers cut off at the output limit are
continued (prose), asked again shorter (JSON), or kept and marked, whatever the provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from devtools.llm_servers import PROSE, OpenAIServer, Reply
from reports.documents.exports import as_markdown, of_report, of_stream
from reports.models import Report, Stage, StageAttempt, StageStatus, StreamStatus
from reports.pipelines.base import CUT_OFF_MARK, words_for
from reports.providers import override_provider
from reports.providers.base import truncated_error
from reports.providers.fake import FakeProvider, Script
from reports.providers.offline import OfflineProvider, parse_faults
from reports.runtime.engine import run_stream
from reports.streams.selectors import stream_snapshot
from tests.providers.conftest import serving

streams_db = pytest.mark.django_db(transaction=True)
CUT = truncated_error(100)


@pytest.fixture
def openai_server(settings: Any) -> Iterator[OpenAIServer]:
    yield from serving(settings, OpenAIServer(), key="sk-test-limits-0123456789",
                       model="test-model")


def stage(stream: Any, key: str) -> Stage:
    return Stage.objects.get(stream=stream, key=key)


def attempts(stream: Any, key: str) -> list[StageAttempt]:
    return list(StageAttempt.objects.filter(stage__stream=stream, stage__key=key))


@streams_db
def test_a_prose_answer_cut_off_goes_on_from_where_it_stopped(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script("context", Script(fail_mid_stream=CUT))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    first, second = fake_provider.calls_for("context")
    assert first.stream is not None and first.stream.sent
    # The continuation carries the answer so far, with the same limit.
    assert second.request.continue_from == first.stream.sent
    assert second.request.max_tokens == first.request.max_tokens
    context = stage(stream, "context")
    assert context.output.startswith(first.stream.sent)
    assert len(context.output) > len(first.stream.sent)
    assert not context.cut_off and context.reasks == 0
    cut, done = attempts(stream, "context")
    assert (cut.error_kind, cut.output) == ("truncated", first.stream.sent)
    assert done.output == ""  # the stage's own output holds it


@streams_db
def test_a_prose_answer_that_runs_on_is_kept_and_marked_everywhere(
    make_stream: Any, fake_provider: FakeProvider, settings: Any, user: Any
) -> None:
    settings.LLM_CONTINUATIONS = 2
    fake_provider.script("context", *[Script(fail_mid_stream=CUT)] * 3)
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert len(fake_provider.calls_for("context")) == 3  # the answer, then 2 continuations
    context = stage(stream, "context")
    assert context.status == StageStatus.COMPLETED and context.cut_off
    assert context.output and CUT_OFF_MARK not in context.output  # the text is the model's
    report = Report.objects.get(stream=stream)
    assert CUT_OFF_MARK in report.markdown  # the document marks it
    assert CUT_OFF_MARK in report.markdown.split("## Context and assumptions")[1]
    exported = as_markdown(of_report(report)).decode()
    assert "Context and assumptions (cut off at the output limit)" in exported
    assert CUT_OFF_MARK in as_markdown(of_stream(stream)).decode()
    snapshot = stream_snapshot(stream)
    assert [s["cut_off"] for s in snapshot["stages"] if s["key"] == "context"] == [True]
    client = Client()
    client.force_login(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert "Cut off at the output limit" in page


@streams_db
def test_a_json_answer_cut_off_is_asked_shorter_with_room_then_fails_keeping_its_text(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script("brief", Script(fail_mid_stream=CUT), Script(fail_mid_stream=CUT))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    first, second = fake_provider.calls_for("brief")
    assert second.request.max_tokens == 2 * first.request.max_tokens
    assert "Answer again, shorter" in second.request.prompt
    assert not second.request.continue_from  # JSON is never continued: asked again
    brief = stage(stream, "brief")
    assert brief.status == StageStatus.FAILED and brief.error_kind == "truncated"
    assert "partial text is kept with the attempt" in brief.error
    assert all(a.output for a in attempts(stream, "brief"))  # both answers, paid for


@streams_db
def test_the_offline_models_length_fault_is_continued_to_its_whole_draft(
    make_stream: Any,
) -> None:
    plain, faulty = make_stream(), make_stream()
    with override_provider(OfflineProvider(rate=100_000)):
        assert run_stream(plain.pk) == StreamStatus.COMPLETED
    with override_provider(OfflineProvider(rate=100_000, faults=parse_faults("context:length"))):
        assert run_stream(faulty.pk) == StreamStatus.COMPLETED

    assert stage(faulty, "context").output == stage(plain, "context").output
    assert [a.error_kind for a in attempts(faulty, "context")] == ["truncated", ""]


@streams_db
def test_an_openai_compatible_length_finish_is_continued(
    make_stream: Any, openai_server: OpenAIServer
) -> None:
    position = ["brief", "context"].index("context")
    openai_server.plan.extend([Reply()] * position + [Reply(finish="length")])
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    again = openai_server.requests[position + 1]
    assert [m["role"] for m in again["messages"]][-2:] == ["assistant", "user"]
    assert stage(stream, "context").output == PROSE + PROSE


def test_output_limits_are_settings_with_one_scale(settings: Any) -> None:
    from reports.domain.config import config

    settings.LLM_OUTPUT_LIMITS = "report:sections=800"
    settings.LLM_OUTPUT_SCALE = 0.5
    assert config().output_limit("report", "sections", 3000) == 400
    assert config().output_limit("report", "context", 1200) == 600
    settings.LLM_OUTPUT_LIMITS = "report:sections=lots"
    assert ("LLM_OUTPUT_LIMITS", "item 'report:sections=lots' is not 'type:stage=tokens'") in (
        config().problems
    )


@streams_db
def test_prompts_ask_for_a_length_that_fits_the_limit(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_OUTPUT_SCALE = 0.1
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    for call in fake_provider.history:
        words = words_for(call.request.max_tokens)
        assert f"at most {words} words" in call.request.prompt.lower(), call.request.stage_key
    sections = fake_provider.calls_for("sections")[0].request
    assert sections.max_tokens == 300  # 3000 x 0.1
