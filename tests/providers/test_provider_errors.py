"""Errors real providers send, against real local servers that speak OpenAI's and
Anthropic's APIs: each becomes a stage message a person can act on and the right retry
class (a truncated answer is asked again once, with a higher max_tokens)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.llm_servers import PROSE, AnthropicServer, OpenAIServer, Reply
from reports.client_report.pipeline import PIPELINE
from reports.models import Stage, StageAttempt, StageStatus, StreamStatus
from reports.runtime.engine import run_stream
from tests.conftest import RecordedWait
from tests.providers.conftest import serving

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def openai_server(settings: Any) -> Iterator[OpenAIServer]:
    key = "sk-test-errors-0123456789"
    yield from serving(settings, OpenAIServer(), key=key, model="test-model")


@pytest.fixture
def anthropic_server(settings: Any) -> Iterator[AnthropicServer]:
    key = "sk-ant-errors-0123456789"
    yield from serving(settings, AnthropicServer(), key=key, model="claude-test")


def brief(stream: Any) -> Stage:
    return Stage.objects.get(stream=stream, key="brief")


def kinds(stage: Stage) -> list[str]:
    return list(
        StageAttempt.objects.filter(stage=stage).order_by("number").values_list(
            "error_kind", flat=True
        )
    )


def openai_error(status: int, message: str, code: str = "") -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code}}
    return Reply("status", status=status, body=json.dumps(body))


def anthropic_error(status: int, error_type: str, message: str) -> Reply:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return Reply("status", status=status, body=json.dumps(body))


def test_openai_context_length_exceeded_fails_at_once_with_advice(
    make_stream: Any, openai_server: OpenAIServer
) -> None:
    openai_server.plan.append(openai_error(
        400, "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9100 tokens.", code="context_length_exceeded"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.status == StageStatus.FAILED and stage.error_kind == "context_length"
    assert kinds(stage) == ["context_length"]  # permanent: not retried
    assert "longer than the model's context window" in stage.error
    assert "larger context window" in stage.error


def test_openai_content_filter_is_permanent(make_stream: Any, openai_server: OpenAIServer) -> None:
    openai_server.plan.append(Reply(finish="content_filter"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.error_kind == "content_filtered" and kinds(stage) == ["content_filtered"]
    assert "content filter stopped the answer" in stage.error and "Rephrase" in stage.error


def test_openai_refusal_is_permanent_and_quoted(
    make_stream: Any, openai_server: OpenAIServer
) -> None:
    openai_server.plan.append(Reply("refusal", text="I can't help with that request."))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.error_kind == "refused" and kinds(stage) == ["refused"]
    assert "I can't help with that request" in stage.error


def test_a_truncated_json_stage_is_asked_again_with_a_higher_limit(
    make_stream: Any, openai_server: OpenAIServer
) -> None:
    openai_server.plan.append(Reply(text='{"client": "Acme', finish="length"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    first, second = openai_server.requests[:2]
    limit = PIPELINE.stage("brief").max_tokens
    assert (first["max_tokens"], second["max_tokens"]) == (limit, 2 * limit)
    stage = brief(stream)
    assert stage.status == StageStatus.COMPLETED and stage.reasks == 1
    assert kinds(stage) == ["truncated", ""]
    truncated = StageAttempt.objects.filter(stage=stage).order_by("number").first()
    assert truncated is not None and truncated.usage_known  # its usage arrived: counted


def test_truncated_twice_fails_with_a_clear_message(
    make_stream: Any, openai_server: OpenAIServer
) -> None:
    openai_server.plan.extend([Reply(finish="length"), Reply(finish="length")])
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.error_kind == "truncated" and kinds(stage) == ["truncated", "truncated"]
    limit = PIPELINE.stage("brief").max_tokens
    assert f"cut off at the output limit of {2 * limit} tokens" in stage.error


def test_anthropic_529_overloaded_is_retried(
    make_stream: Any, anthropic_server: AnthropicServer, recorded_waits: list[RecordedWait]
) -> None:
    anthropic_server.plan.append(
        anthropic_error(529, "overloaded_error", "Overloaded"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    stage = brief(stream)
    assert kinds(stage) == ["overloaded", ""]
    (flag,) = recorded_waits
    assert flag.timeouts and flag.timeouts[0] is not None  # a backoff, not slept here


def test_anthropic_overloaded_every_time_fails_as_overloaded(
    make_stream: Any, anthropic_server: AnthropicServer, recorded_waits: list[RecordedWait],
    settings: Any,
) -> None:
    settings.LLM_MAX_ATTEMPTS = 2
    anthropic_server.plan.extend([anthropic_error(529, "overloaded_error", "Overloaded")] * 2)
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.error_kind == "overloaded"
    assert "Anthropic is overloaded (HTTP 529)" in stage.error
    assert "Resume in a few minutes" in stage.error


def test_anthropic_prompt_too_long_is_a_context_length_error(
    make_stream: Any, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.plan.append(anthropic_error(
        400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.error_kind == "context_length" and kinds(stage) == ["context_length"]


def test_anthropic_max_tokens_stop_is_continued_where_it_stopped(
    make_stream: Any, anthropic_server: AnthropicServer
) -> None:
    """A prose answer cut off at the limit is not asked again from the start: the next
    call carries the answer so far and asks the model to go on; both parts are kept."""
    position = [spec.key for spec in PIPELINE.stages].index("context")
    anthropic_server.plan.extend([Reply()] * position + [Reply(finish="max_tokens")])
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    cut, again = anthropic_server.requests[position : position + 2]
    assert again["max_tokens"] == cut["max_tokens"]
    assert [m["role"] for m in again["messages"]] == ["user", "assistant", "user"]
    assert again["messages"][1]["content"] == PROSE
    assert "Continue it exactly where it stopped" in again["messages"][2]["content"]
    context = Stage.objects.get(stream=stream, key="context")
    assert kinds(context) == ["truncated", ""] and context.reasks == 0
    assert context.output == PROSE + PROSE and not context.cut_off


def test_anthropic_refusal_stop_is_permanent(
    make_stream: Any, anthropic_server: AnthropicServer
) -> None:
    anthropic_server.plan.append(Reply(finish="refusal"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stage = brief(stream)
    assert stage.error_kind == "refused" and kinds(stage) == ["refused"]
    assert "declined to write this part" in stage.error
