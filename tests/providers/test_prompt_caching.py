"""Prompt caching: prompts put their stable part first, OpenAI requests carry one
``prompt_cache_key`` per stream, Anthropic requests mark the stable prefix with
``cache_control``; cached input tokens the servers report are recorded per attempt,
stage and stream, priced at the cached and cache-write rates, and shown."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from devtools.llm_servers import AnthropicServer, OpenAIServer
from reports.client_report.pipeline import PIPELINE
from reports.models import Stage, StageAttempt, StreamingJob, StreamStatus
from reports.providers import Usage, pricing
from reports.providers.fake import FakeProvider
from reports.providers.registry import reset_cache
from reports.runtime.engine import run_stream
from tests.providers.conftest import serving

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]
BRIEF_HEAD = "The brief for this client report:"


@pytest.fixture
def openai_server(settings: Any) -> Iterator[OpenAIServer]:
    """Every answer: 1,000 input tokens of which 600 came from the cache, 500 out."""
    server = OpenAIServer(tokens_in=1000, tokens_out=500, tokens_cached=600)
    prices = (Decimal("2"), Decimal("10"), Decimal("0.5"), Decimal("2"))
    yield from serving(settings, server, key="sk-test-caching-0123456789", model="test-model",
                       prices=prices)


@pytest.fixture
def anthropic_server(settings: Any) -> Iterator[AnthropicServer]:
    """Every answer: 100 uncached input tokens, 800 read from the cache, 200 written."""
    server = AnthropicServer(tokens_in=100, tokens_out=400, tokens_cached=800,
                             tokens_cache_write=200)
    prices = (Decimal("3"), Decimal("15"), Decimal("0.30"), Decimal("3.75"))
    yield from serving(settings, server, key="sk-ant-caching-0123456789", model="claude-test",
                       prices=prices)


def test_prompts_put_the_stable_part_first(make_stream: Any, fake_provider: FakeProvider) -> None:
    stream = make_stream()
    run_stream(stream.pk)

    requests = {call.request.stage_key: call.request for call in fake_provider.history}
    brief_part = requests["brief"].prefix_parts[0]
    assert brief_part.startswith(BRIEF_HEAD) and "Acme Ltd" in brief_part
    for request in requests.values():
        # The same brief first everywhere, then the outputs read, the instruction last.
        assert request.prefix_parts[0] == brief_part
        assert request.prompt.startswith("\n\n".join(request.prefix_parts))
    sections = requests["sections"]
    earlier = sections.prefix_parts[1]
    # Earlier outputs in pipeline order, whatever order the stage lists them in.
    assert earlier.index("Brief analysis (JSON):") < earlier.index("Context and assumptions:")
    assert earlier.index("Context and assumptions:") < earlier.index("Outline (JSON):")
    assert sections.prompt.rstrip().endswith("words in all. Answer the key\nquestions "
                                             "of the brief analysis; tie every claim to the "
                                             "client's situation.")


def test_openai_requests_carry_one_cache_key_per_stream(
    make_stream: Any, openai_server: OpenAIServer, user: User
) -> None:
    first = make_stream()
    run_stream(first.pk)
    second = make_stream(title="Another report")
    run_stream(second.pk)

    keys = [request.get("prompt_cache_key") for request in openai_server.requests]
    count = len(MODEL_STAGES)
    assert keys == [str(first.pk)] * count + [str(second.pk)] * count


def test_the_cache_key_can_be_turned_off(
    make_stream: Any, openai_server: OpenAIServer, settings: Any
) -> None:
    settings.OPENAI_PROMPT_CACHE_KEY = False
    run_stream(make_stream().pk)

    assert not any("prompt_cache_key" in request for request in openai_server.requests)


def test_openai_cached_tokens_are_recorded_and_priced_at_the_cached_rate(
    make_stream: Any, openai_server: OpenAIServer, user: User
) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    attempt = StageAttempt.objects.get(stage__stream=stream, stage__key="context")
    assert (attempt.tokens_in, attempt.tokens_cached, attempt.tokens_cache_write) == (1000, 600, 0)
    # 400 uncached at $2, 600 cached at $0.50, 500 out at $10, per million.
    assert attempt.cost_usd == Decimal("0.006100")
    stage = Stage.objects.get(stream=stream, key="context")
    assert stage.tokens_cached == 600
    assert stage.cost_usd == Decimal("0.006100")
    assert stage.cache_saved_usd == Decimal("0.000900")  # 600 * ($2 - $0.50)
    stream.refresh_from_db()
    count = len(MODEL_STAGES)
    assert stream.tokens_cached == 600 * count
    assert stream.cost_usd == Decimal("0.006100") * count
    assert stream.cache_saved_usd == Decimal("0.000900") * count

    client = Client()
    client.force_login(user)
    snapshot = client.get(f"/api/streams/{stream.pk}/").json()
    assert snapshot["tokens_cached"] == 600 * count
    assert {s["tokens_cached"] for s in snapshot["stages"] if s["key"] in MODEL_STAGES} == {600}
    assert snapshot["tokens_in"] == 1000 * count  # tokens_in still counts every input token
    detail = client.get(f"/api/streams/{stream.pk}/stages/context/").json()
    assert detail["tokens_cached"] == 600
    card = client.get(stream.get_absolute_url()).content.decode()
    assert f"{600 * count:,} cached" in card
    assert "saved by caching" in card


def test_anthropic_marks_the_stable_prefix_and_prices_cache_reads_and_writes(
    make_stream: Any, anthropic_server: AnthropicServer
) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    position = [spec.key for spec in PIPELINE.stages].index("outline")
    request = anthropic_server.requests[position]
    assert request["system"][0]["cache_control"] == {"type": "ephemeral"}
    blocks = request["messages"][0]["content"]
    marked = [block for block in blocks if "cache_control" in block]
    # The brief and the earlier outputs are breakpoints; the instruction is not.
    assert len(marked) == 2 and marked[0]["text"].startswith(BRIEF_HEAD)
    assert "cache_control" not in blocks[-1] and "Plan the body" in blocks[-1]["text"]
    attempt = StageAttempt.objects.get(stage__stream=stream, stage__key="outline")
    assert (attempt.tokens_in, attempt.tokens_cached, attempt.tokens_cache_write) == (
        1100, 800, 200
    )
    # 100 at $3, 800 cache reads at $0.30, 200 cache writes at $3.75, 400 out at $15.
    assert attempt.cost_usd == Decimal("0.007290")
    stage = Stage.objects.get(stream=stream, key="outline")
    assert stage.cache_saved_usd == Decimal("0.002010")  # 800 * 2.70 - 200 * 0.75


def test_anthropic_caching_can_be_turned_off(
    make_stream: Any, anthropic_server: AnthropicServer, settings: Any
) -> None:
    settings.ANTHROPIC_PROMPT_CACHING = False
    run_stream(make_stream().pk)

    for request in anthropic_server.requests:
        assert isinstance(request["system"], str)
        assert isinstance(request["messages"][0]["content"], str)


def test_analytics_show_cached_tokens_and_the_saving(
    make_stream: Any, openai_server: OpenAIServer, staff_user: User
) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    assert StreamingJob.objects.get(pk=stream.pk).tokens_cached

    client = Client()
    client.force_login(staff_user)
    html = client.get("/analytics/").content.decode()
    assert "Tokens cached" in html and "Saved by prompt caching" in html
    csv_text = client.get("/analytics/", {"format": "csv"}).content.decode()
    header, *rows = csv_text.splitlines()
    assert "tokens cached" in header and "saved by caching (USD)" in header
    context_row = next(row for row in rows if ",context," in row)
    assert ",600," in context_row and "0.000900" in context_row


def test_a_model_priced_without_cache_rates_prices_cached_tokens_as_input(settings: Any) -> None:
    settings.LLM_PRICING = {"two": (Decimal("2"), Decimal("10")),
                            "four": (Decimal("2"), Decimal("10"), Decimal("0.2"), Decimal("2.5"))}
    usage = Usage(1000, 100, tokens_cached=600, tokens_cache_write=200)
    assert pricing.cost_for("two", Usage(1000, 100)) == Decimal("0.003000")
    assert pricing.cost_for("two", usage) == Decimal("0.003000")  # never less than it may cost
    assert pricing.cache_saving("two", usage) == Decimal(0)
    # 200 uncached at $2, 600 cached at $0.20, 200 written at $2.50, 100 out at $10.
    assert pricing.cost_for("four", usage) == Decimal("0.002020")
    assert pricing.cache_saving("four", usage) == Decimal("0.000980")  # 600*1.8 - 200*0.5


@pytest.mark.parametrize("cache_key", [True, False])
def test_a_server_caching_seen_prefixes_per_key_is_recorded_per_stage(
    make_stream: Any, settings: Any, cache_key: bool
) -> None:
    """The server bench/caching.py measures with: cached = the longest prefix of the
    prompt seen before under the same prompt_cache_key (a token ~ 4 characters)."""
    server = OpenAIServer(prompt_cache=True).start()
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "sk-test-caching-0123456789"
    settings.OPENAI_PROMPT_CACHE_KEY = cache_key
    reset_cache()
    try:
        stream = make_stream()
        assert run_stream(stream.pk) == StreamStatus.COMPLETED
    finally:
        server.stop()
        reset_cache()

    attempts = {a.stage.key: a for a in StageAttempt.objects.filter(stage__stream=stream)}
    first, *later = [attempts[key] for key in MODEL_STAGES]
    assert first.tokens_cached == 0 and first.tokens_in > 0
    if cache_key:
        # Every later prompt starts with the system prompt and brief the first one sent.
        assert all(0 < a.tokens_cached < a.tokens_in for a in later)
    else:
        assert all(a.tokens_cached == 0 for a in later)
