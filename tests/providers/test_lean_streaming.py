"""The lean streaming path (raw body, SSE split by hand, orjson dicts) reads exactly
what the SDKs' streams read, against real local servers for both protocols."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from httpcore2._backends.sync import SyncStream

from devtools.llm_servers import AnthropicServer, FakeLLMServer, OpenAIServer, Reply
from reports.models import Stage, StageAttempt, StreamStatus
from reports.providers.base import CompletionRequest
from reports.providers.registry import get_provider, reset_cache
from reports.providers.sse import sse_events
from reports.runtime.engine import run_stream


def test_events_are_split_across_chunks_lines_and_comments() -> None:
    raw = (b"event: message_start\r\ndata: {\"a\": 1}\r\n\r\n: a comment\n\n"
           b"data: line one\ndata: line two\n\nid: 7\ndata: [DONE]\n\ndata: no blank line")
    cuts = [raw[:9], raw[9:30], raw[30:31], raw[31:70], raw[70:]]
    assert list(sse_events(cuts)) == [
        (b"message_start", b'{"a": 1}'),
        (b"", b"line one\nline two"),
        (b"", b"[DONE]"),
        (b"", b"no blank line"),
    ]


@pytest.fixture(params=["openai", "anthropic"])
def server(request: Any, settings: Any) -> Iterator[FakeLLMServer]:
    """A server of each protocol that reports cached tokens, and the site pointed at it."""
    found: FakeLLMServer
    if request.param == "openai":
        found = OpenAIServer(tokens_in=1000, tokens_out=300, tokens_cached=400).start()
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = found.base_url
        settings.OPENAI_API_KEY = "sk-test-lean-0123456789"
    else:
        found = AnthropicServer(tokens_in=600, tokens_out=300, tokens_cached=400).start()
        settings.LLM_PROVIDER = "anthropic"
        settings.ANTHROPIC_BASE_URL = found.base_url
        settings.ANTHROPIC_API_KEY = "sk-ant-test-lean-0123456789"
    settings.LLM_MODEL = "test-model"
    settings.LLM_PRICING = {
        **settings.LLM_PRICING,
        "test-model": (Decimal("2"), Decimal("10"), Decimal("0.5"), Decimal("2")),
    }
    reset_cache()
    try:
        yield found
    finally:
        found.stop()
        reset_cache()


def run_with(parser: str, settings: Any, make_stream: Any) -> list[tuple[Any, ...]]:
    settings.LLM_STREAM_PARSER = parser
    stream = make_stream(title=f"Read with {parser}")
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    stages = Stage.objects.filter(stream=stream, attempts__gt=0).order_by("position")
    return [
        (s.key, s.output, s.data, s.tokens_in, s.tokens_out, s.tokens_cached, s.cost_usd,
         StageAttempt.objects.get(stage=s).usage_known)
        for s in stages
    ]


@pytest.mark.django_db(transaction=True)
def test_lean_and_sdk_streams_read_the_same(
    server: FakeLLMServer, settings: Any, make_stream: Any
) -> None:
    lean = run_with("lean", settings, make_stream)
    sdk = run_with("sdk", settings, make_stream)

    assert lean == sdk
    assert all(row[5] == 400 and row[3] == 1000 and row[7] for row in lean)
    # The JSON stages' text is the schema-held answer in both (a forced tool's input on
    # Anthropic, the message on OpenAI).
    assert any(row[0] == "outline" and isinstance(row[2], list) for row in lean)


def reads_of_one_stream(server: FakeLLMServer, monkeypatch: Any) -> int:
    """Stream 100 chunks sent 10 ms apart; returns how many times the connection's
    socket was read (httpcore's network stream)."""
    reads = []
    real_read = SyncStream.read

    def counted(self: SyncStream, max_bytes: int, timeout: float | None = None) -> bytes:
        reads.append(max_bytes)
        return real_read(self, max_bytes, timeout)

    monkeypatch.setattr(SyncStream, "read", counted)
    words = "word " * 240  # 100 chunks of 12 characters
    server.plan.append(Reply(kind="slow", delay=0.01, text=words))
    request = CompletionRequest(model="test-model", system="", prompt="Write.", max_tokens=500)
    text = "".join(get_provider().stream(request))
    monkeypatch.undo()
    assert text == words
    return len(reads)


@pytest.mark.django_db
def test_the_connection_is_read_once_per_interval_not_once_per_chunk(
    server: FakeLLMServer, settings: Any, monkeypatch: Any
) -> None:
    settings.LLM_READ_INTERVAL_SECONDS = 0.1
    paced = reads_of_one_stream(server, monkeypatch)
    settings.LLM_READ_INTERVAL_SECONDS = 0
    unpaced = reads_of_one_stream(server, monkeypatch)

    # ~1 s of chunks: about 10 reads, each taking every chunk that arrived meanwhile
    # (as many reads as chunks without the pacing).
    assert paced <= 30 < unpaced


@pytest.mark.django_db
def test_cancel_ends_a_paced_read_at_once(server: FakeLLMServer, settings: Any) -> None:
    settings.LLM_READ_INTERVAL_SECONDS = 120  # a pause no test would wait out
    server.plan.append(Reply(kind="slow", delay=0.01, text="word " * 240))
    stream = get_provider().stream(
        CompletionRequest(model="test-model", system="", prompt="Write.", max_tokens=500)
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(stream), daemon=True)
    reader.start()
    assert server.streaming.wait(10)  # the body has begun: the reader reads or pauses
    stream.close()
    reader.join(10)
    assert not reader.is_alive()  # the pause ended with the cancel, not after 120 s
    assert server.client_closed.wait(10)
