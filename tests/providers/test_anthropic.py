"""The Anthropic provider against a real local server that speaks the Messages event
stream, driven through ``engine.run_stream`` with ``LLM_PROVIDER=anthropic``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from devtools.llm_servers import AnthropicServer, Reply
from reports.client_report.pipeline import PIPELINE
from reports.events.eventlog import MemoryEventLog, event_log
from reports.models import AttemptStatus, StageAttempt, StageStatus, StreamingJob, StreamStatus
from reports.providers.registry import reset_cache
from reports.runtime.engine import run_stream
from reports.streams.services import cancel_job
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-ant-test-0123456789-SECRET"
MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]


@pytest.fixture
def server(settings: Any) -> Iterator[AnthropicServer]:
    """A local server that speaks Anthropic's Messages API, and the site pointed at it."""
    server = AnthropicServer(tokens_in=1200, tokens_out=400).start()
    settings.LLM_PROVIDER = "anthropic"
    settings.ANTHROPIC_BASE_URL = server.base_url
    settings.ANTHROPIC_API_KEY = SECRET
    settings.LLM_MODEL = "claude-test"
    settings.LLM_PRICING = {**settings.LLM_PRICING, "claude-test": (Decimal("3"), Decimal("15"))}
    reset_cache()
    try:
        yield server
    finally:
        server.stop()
        reset_cache()


def attempts(stream: StreamingJob, key: str) -> list[StageAttempt]:
    found = StageAttempt.objects.filter(stage__stream=stream, stage__key=key)
    return list(found.order_by("number"))


def test_text_and_usage_arrive(make_stream: Any, server: AnthropicServer) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    request = server.requests[0]
    assert request["stream"] is True
    assert request["model"] == "claude-test"
    (system,) = request["system"]  # one text block, a prompt-cache breakpoint
    assert system["text"].startswith("You are a senior consultant")
    assert request["max_tokens"] == PIPELINE.stage("brief").max_tokens
    assert {h.get("x-stainless-retry-count") for h in server.headers} == {"0"}
    for stage in stream.stages.filter(key__in=MODEL_STAGES):
        assert stage.status == StageStatus.COMPLETED
        assert stage.output == server.answer(server.requests[stage.position])
        # Two message_delta events (200, then 400 output tokens): cumulative, not added.
        assert (stage.tokens_in, stage.tokens_out) == (1200, 400)
        assert stage.cost_usd == Decimal("0.009600")  # 1200 * 3 / 1e6 + 400 * 15 / 1e6
    assert all(a.usage_known for a in StageAttempt.objects.filter(stage__stream=stream))


def test_overloaded_error_mid_stream_is_retried(make_stream: Any, server: AnthropicServer) -> None:
    server.plan.append(Reply("error_event"))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    failed, succeeded = attempts(stream, "brief")
    assert (failed.status, failed.error_kind) == (AttemptStatus.FAILED, "overloaded")
    assert "overloaded_error" in failed.error
    assert failed.tokens_out > 0 and not failed.usage_known  # the partial text, estimated
    assert succeeded.status == AttemptStatus.SUCCEEDED


def test_overloaded_status_and_rate_limit_are_retried(
    make_stream: Any, server: AnthropicServer
) -> None:
    overloaded = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    limited = '{"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}'
    server.plan.extend([
        Reply("status", 529, body=overloaded),
        Reply("status", 429, {"retry-after": "0"}, body=limited),
    ])
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    kinds = [a.error_kind for a in attempts(stream, "brief")]
    assert kinds == ["overloaded", "rate_limited", ""]


def test_stream_cut_is_retried(make_stream: Any, server: AnthropicServer) -> None:
    server.plan.append(Reply("cut", cut_after=5))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    cut, _ = attempts(stream, "brief")
    assert cut.error_kind == "stream_cut"


def test_cancel_closes_the_http_connection(
    make_stream: Any, server: AnthropicServer, user: User
) -> None:
    server.plan.append(Reply("slow", delay=0.05, text="word " * 2000))
    stream = make_stream()
    result: list[str | None] = []
    runner = threading.Thread(target=lambda: result.append(run_stream(stream.pk)))
    runner.start()
    log = event_log()
    assert isinstance(log, MemoryEventLog)
    wait_for(lambda: any(e["type"] == "stage.delta" for e in log.logged(str(stream.pk))))

    cancel_job(stream_id=stream.pk, user=user)

    # The reply would take 100 s: the connection closing now is the cancel, not its end.
    assert server.client_closed.wait(10)
    runner.join(10)
    assert result == [StreamStatus.CANCELLED]


def test_missing_key_is_a_check_error(settings: Any) -> None:
    settings.LLM_PROVIDER = "anthropic"
    settings.ANTHROPIC_API_KEY = ""
    reset_cache()
    try:
        with pytest.raises(SystemCheckError, match="ANTHROPIC_API_KEY is not set"):
            call_command("check")
    finally:
        reset_cache()
