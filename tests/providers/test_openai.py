"""The OpenAI provider against a real local server that speaks the streaming protocol,
driven through ``engine.run_stream`` with ``LLM_PROVIDER=openai``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from devtools.llm_servers import OpenAIServer, Reply, answer_for
from reports.client_report.pipeline import PIPELINE
from reports.events.eventlog import MemoryEventLog, event_log
from reports.models import AttemptStatus, StageAttempt, StageStatus, StreamingJob, StreamStatus
from reports.providers.registry import get_provider, reset_cache
from reports.runtime.checks import check_llm_provider
from reports.runtime.engine import run_stream
from reports.streams.services import cancel_job
from tests.conftest import RecordedWait, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-test-0123456789abcdef-SECRET"
MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]


@pytest.fixture
def server(settings: Any) -> Iterator[OpenAIServer]:
    """A local OpenAI-compatible server, and the site pointed at it."""
    server = OpenAIServer().start()
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = SECRET
    settings.LLM_MODEL = "test-model"
    settings.LLM_PRICING = {**settings.LLM_PRICING, "test-model": (Decimal("2"), Decimal("10"))}
    reset_cache()
    try:
        yield server
    finally:
        server.stop()
        reset_cache()


def logged_events(stream: StreamingJob) -> list[dict[str, Any]]:
    log = event_log()
    assert isinstance(log, MemoryEventLog)
    return log.logged(str(stream.pk))


def attempts(stream: StreamingJob, key: str) -> list[StageAttempt]:
    found = StageAttempt.objects.filter(stage__stream=stream, stage__key=key)
    return list(found.order_by("number"))


def test_text_and_usage_arrive(make_stream: Any, server: OpenAIServer) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    request = server.requests[0]
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}
    assert request["model"] == "test-model"
    assert request["messages"][0]["role"] == "system"
    assert request["max_tokens"] == PIPELINE.stage("brief").max_tokens
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"
    # The SDK does not retry on its own: our engine owns retries.
    assert {h.get("x-stainless-retry-count") for h in server.headers} == {"0"}
    assert len(server.requests) == len(MODEL_STAGES)
    for stage in stream.stages.filter(key__in=MODEL_STAGES):
        assert stage.status == StageStatus.COMPLETED
        assert stage.output == server.answer(server.requests[stage.position])
        assert (stage.tokens_in, stage.tokens_out) == (1000, 500)
        assert stage.model == "test-model"
    assert all(a.usage_known for a in StageAttempt.objects.filter(stage__stream=stream))


def test_rate_limit_waits_for_retry_after(
    make_stream: Any, server: OpenAIServer, recorded_waits: list[RecordedWait]
) -> None:
    server.plan.append(Reply("status", 429, {"Retry-After": "1"},
                             '{"error": {"message": "Rate limit reached"}}'))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    [flag] = recorded_waits
    assert flag.timeouts == [1.0]  # the header's wait, asked of the runner's cancel flag
    first, second = attempts(stream, "brief")
    assert (first.status, first.error_kind) == (AttemptStatus.FAILED, "rate_limited")
    assert second.status == AttemptStatus.SUCCEEDED
    retrying = [e for e in logged_events(stream) if e["type"] == "stage.retrying"]
    assert [(e["stage"], e["error_kind"], e["delay_s"]) for e in retrying] == [
        ("brief", "rate_limited", 1.0)
    ]


def test_server_error_is_retried(make_stream: Any, server: OpenAIServer) -> None:
    server.plan.append(Reply("status", 500, body='{"error": {"message": "boom"}}'))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    first, second = attempts(stream, "brief")
    assert (first.error_kind, second.status) == ("server_error", AttemptStatus.SUCCEEDED)
    assert (first.tokens_in, first.tokens_out) == (0, 0)  # nothing streamed, nothing paid


@pytest.mark.parametrize("parser", ["lean", "sdk"])
def test_an_error_mid_stream_is_retried_and_its_partial_counted(
    make_stream: Any, server: OpenAIServer, settings: Any, parser: str
) -> None:
    settings.LLM_STREAM_PARSER = parser
    server.plan.append(Reply("error_event"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    failed, retried = attempts(stream, "brief")
    assert (failed.status, failed.error_kind) == (AttemptStatus.FAILED, "server_error")
    assert "error while processing" in failed.error
    assert failed.tokens_out > 0 and not failed.usage_known  # the partial text, estimated
    assert retried.status == AttemptStatus.SUCCEEDED


def test_stream_cut_midway_is_retried_and_its_partial_counted(
    make_stream: Any, server: OpenAIServer
) -> None:
    server.plan.append(Reply("cut", cut_after=3))  # role chunk + two pieces, then a cut
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    cut, retried = attempts(stream, "brief")
    assert (cut.status, cut.error_kind) == (AttemptStatus.FAILED, "stream_cut")
    assert not cut.usage_known and cut.tokens_out > 0  # estimated from the partial text
    assert retried.usage_known and retried.tokens_out == 500
    stream.refresh_from_db()
    assert stream.stages.get(key="brief").data["key_questions"]
    assert not stream.cost_complete  # one attempt's usage is an estimate


def test_missing_usage_chunk_is_estimated_and_marked(
    make_stream: Any, server: OpenAIServer
) -> None:
    server.plan.append(Reply("no_usage"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    (attempt,) = attempts(stream, "brief")
    assert attempt.status == AttemptStatus.SUCCEEDED
    assert not attempt.usage_known
    assert attempt.tokens_out == (len(answer_for("Analyse the brief")) + 3) // 4
    assert attempt.cost_usd is not None  # an estimate at the model's price, not zero
    stream.refresh_from_db()
    assert not stream.cost_complete


def test_first_token_timeout_is_transient(
    make_stream: Any, server: OpenAIServer, settings: Any
) -> None:
    # Long enough for a cold SDK's first request (its first call with a response_format
    # takes ~0.2 s of CPU, more on a loaded machine); the stall lasts 30 s.
    settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS = 1.0
    reset_cache()
    server.plan.append(Reply("stall", cut_after=1))  # headers and a role chunk, then silence
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    stalled, _ = attempts(stream, "brief")
    assert stalled.error_kind == "timeout"
    assert server.client_closed.wait(2)  # the stalled connection was closed, not left open


def test_cancel_closes_the_http_connection_at_once(
    make_stream: Any, server: OpenAIServer, user: User
) -> None:
    server.plan.append(Reply("slow", delay=0.05, text="word " * 2000))
    stream = make_stream()
    result: list[str | None] = []
    runner = threading.Thread(target=lambda: result.append(run_stream(stream.pk)))
    runner.start()
    wait_for(lambda: any(e["type"] == "stage.delta" for e in logged_events(stream)))

    cancel_job(stream_id=stream.pk, user=user)

    # The reply would take 100 s: the connection closing now is the cancel, not its end.
    assert server.client_closed.wait(10)
    runner.join(10)
    assert result == [StreamStatus.CANCELLED]
    (attempt,) = attempts(stream, "brief")
    assert attempt.status == AttemptStatus.CANCELLED
    assert attempt.tokens_out > 0 and attempt.cost_usd is not None  # paid for, and counted
    assert attempt.tokens_out < 2000  # and the rest never sent


def test_refused_key_fails_with_a_human_message_and_never_shows_the_key(
    make_stream: Any, server: OpenAIServer, user: User, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    server.plan.append(Reply("status", 401, body=(
        '{"error": {"message": "Incorrect API key provided: ' + SECRET + '"}}')))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stream.refresh_from_db()
    brief = stream.stages.get(key="brief")
    assert brief.error_kind == "auth" and brief.attempts == 1
    assert "refused the API key" in brief.error and "administrator" in brief.error
    client = Client()
    client.force_login(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert "refused the API key" in page
    stored = " ".join(
        [stream.error, brief.error]
        + [a.error for a in StageAttempt.objects.filter(stage__stream=stream)]
    )
    assert SECRET not in stored + page + caplog.text


def test_missing_key_is_a_check_error_and_a_message_on_the_card(
    make_stream: Any, settings: Any
) -> None:
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    reset_cache()

    with pytest.raises(SystemCheckError, match="OPENAI_API_KEY is not set"):
        call_command("check")

    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.FAILED
    stream.refresh_from_db()
    assert stream.error_kind == "config"
    assert "OPENAI_API_KEY is not set" in stream.error
    assert "administrator" in stream.error and "Traceback" not in stream.error


def test_no_key_is_fine_for_a_local_server(settings: Any) -> None:
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = "http://localhost:11434/v1"
    reset_cache()  # (the autouse fixture resets it again afterwards, pass or fail)

    provider = get_provider()  # Ollama needs no key
    assert provider.configuration_errors() == []
    assert check_llm_provider() == []
    call_command("check")  # raises SystemCheckError on any error


def test_unknown_provider_is_a_check_error_and_a_message_on_the_card(
    make_stream: Any, settings: Any
) -> None:
    settings.LLM_PROVIDER = "gpt-please"
    reset_cache()

    with pytest.raises(SystemCheckError, match="Unknown LLM_PROVIDER 'gpt-please'"):
        call_command("check")

    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.FAILED
    stream.refresh_from_db()
    assert stream.error_kind == "config"
    assert "Unknown LLM_PROVIDER 'gpt-please'" in stream.error
