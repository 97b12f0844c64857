"""What each stage costs: per attempt, stage, stream and user, against a local
OpenAI-compatible server whose usage we choose, so every sum is computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from devtools.llm_servers import OpenAIServer, Reply
from reports.client_report.pipeline import PIPELINE
from reports.models import AttemptStatus, StageAttempt, StageStatus, StreamStatus
from reports.providers import Usage
from reports.providers.pricing import cost_for, price_for
from reports.providers.registry import reset_cache
from reports.runtime.engine import run_stream
from reports.streams.costs import stream_costs, user_costs
from reports.streams.selectors import stream_snapshot

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]
# 1,000 tokens in at $2/M + 500 out at $10/M = $0.002 + $0.005.
PER_CALL = Decimal("0.007")


@pytest.fixture
def server(settings: Any) -> Iterator[OpenAIServer]:
    server = OpenAIServer(tokens_in=1000, tokens_out=500).start()
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_API_KEY = "sk-test-cost-0123456789"
    settings.LLM_MODEL = "house-model"
    settings.LLM_PRICING = {
        **settings.LLM_PRICING,
        "house-model": (Decimal("2"), Decimal("10")),
        "cheap-model": (Decimal("1"), Decimal("2")),
    }
    reset_cache()
    try:
        yield server
    finally:
        server.stop()
        reset_cache()


def test_price_lookup_and_cost() -> None:
    assert price_for("gpt-4o-2024-08-06") == price_for("gpt-4o")
    assert price_for("no-such-model") is None
    assert cost_for("gpt-4o-mini", Usage(1_000_000, 1_000_000)) == Decimal("0.75")
    assert cost_for("no-such-model", Usage(10, 10)) is None
    assert cost_for("gpt-4o", None) is None


def test_attempt_stage_stream_and_user_sums(
    make_stream: Any, server: OpenAIServer, user: User, other_user: User
) -> None:
    # brief: a refused attempt (429: known to cost nothing), then a 500 (not known).
    server.plan.extend([Reply("status", 429, {"Retry-After": "0"}), Reply("status", 500)])
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    stream.refresh_from_db()
    assert stream.cost_usd == PER_CALL * len(MODEL_STAGES) == Decimal("0.042")
    assert stream.cost_complete is False  # the 500's usage is an estimate (0), not known
    brief_attempts = StageAttempt.objects.filter(stage__stream=stream, stage__key="brief")
    assert [(a.cost_usd, a.usage_known) for a in brief_attempts.order_by("number")] == [
        (Decimal(0), True), (Decimal(0), False), (PER_CALL, True)
    ]
    for stage in stream.stages.all():
        assert stage.cost_usd == (PER_CALL if stage.key in MODEL_STAGES else Decimal(0))

    costs = stream_costs(stream.pk)
    assert costs["cost_usd"] == Decimal("0.042")
    assert costs["attempts"] == len(MODEL_STAGES) + 2
    assert costs["estimated_attempts"] == 1
    assert (costs["tokens_in"], costs["tokens_out"]) == (6000, 3000)
    assert [s["key"] for s in costs["stages"]] == MODEL_STAGES
    assert [a["status"] for a in costs["stages"][0]["attempt_log"]] == [
        AttemptStatus.FAILED, AttemptStatus.FAILED, AttemptStatus.SUCCEEDED
    ]

    second = make_stream()
    assert run_stream(second.pk) == StreamStatus.COMPLETED
    make_stream(owner=other_user)  # never run: costs nothing, and is not alice's anyway
    totals = user_costs(user)
    assert totals["cost_usd"] == Decimal("0.084")
    assert totals["streams"] == 2
    assert [(m["model"], m["cost_usd"]) for m in totals["by_model"]] == [
        ("house-model", Decimal("0.084"))
    ]
    assert user_costs(other_user)["cost_usd"] == Decimal(0)


def test_a_stage_model_is_priced_as_itself(
    make_stream: Any, server: OpenAIServer, settings: Any
) -> None:
    settings.LLM_STAGE_MODELS = "report:outline = cheap-model, report:nothing=x"
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    models = [r["model"] for r in server.requests]
    assert models[MODEL_STAGES.index("outline")] == "cheap-model"
    assert models.count("house-model") == len(MODEL_STAGES) - 1
    outline = stream.stages.get(key="outline")
    assert outline.model == "cheap-model"
    assert outline.cost_usd == Decimal("0.002")  # 1000 * 1 / 1e6 + 500 * 2 / 1e6
    stream.refresh_from_db()
    assert stream.cost_usd == PER_CALL * 5 + Decimal("0.002")
    assert stream.cost_complete
    client = Client()
    client.force_login(stream.owner)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert "$0.0020</span>" in page and "$0.0070</span>" in page  # per stage, on the card


def test_an_unpriced_model_shows_cost_unknown_not_zero(
    make_stream: Any, server: OpenAIServer, settings: Any, user: User
) -> None:
    settings.LLM_MODEL = "mystery-model"
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    stream.refresh_from_db()
    assert not stream.cost_complete
    assert all(
        a.cost_usd is None and a.usage_known
        for a in StageAttempt.objects.filter(stage__stream=stream)
    )
    assert stream.stages.get(key="brief").cost_usd is None
    snapshot = stream_snapshot(stream)
    assert snapshot["cost_usd"] is None
    assert snapshot["stages"][0]["cost_usd"] is None
    assert user_costs(user)["cost_usd"] is None
    client = Client()
    client.force_login(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert "<dt>Cost</dt><dd>no price set <span class=\"cost-hint\">No price set for" in page
    assert "no price set" in page  # each stage row says so too


@pytest.mark.parametrize("where", ["setting", "job"])
def test_crossing_the_budget_stops_the_stream_failed_budget_exceeded(
    make_stream: Any, server: OpenAIServer, settings: Any, user: User, where: str
) -> None:
    if where == "setting":
        settings.STREAM_BUDGET_USD = "0.01"  # crossed by the second stage (0.014)
        stream = make_stream()  # the setting is the new stream's budget
    else:
        stream = make_stream()
        settings.STREAM_BUDGET_USD = "5"  # the stream's own budget wins
        stream.budget_usd = Decimal("0.01")
        stream.save(update_fields=["budget_usd"])

    assert run_stream(stream.pk) == StreamStatus.FAILED

    stream.refresh_from_db()
    assert stream.cancel_reason == "budget" and stream.error_kind == "budget_exceeded"
    assert "$0.014 spent of a $0.010 budget" in stream.error
    assert stream.cost_usd == PER_CALL * 2
    statuses = {s.key: s.status for s in stream.stages.all()}
    assert statuses["brief"] == statuses["context"] == StageStatus.COMPLETED
    assert statuses["outline"] == StageStatus.PENDING  # never started: nothing more spent
    assert len(server.requests) == 2
    client = Client()
    client.force_login(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert ">Budget reached<" in page


@pytest.mark.parametrize("price, card, api", [
    ((Decimal("0"), Decimal("0")), "free (offline)", "0.000000"),
    ((Decimal("2"), Decimal("10")), "≈ $", None),
])
def test_a_cut_stream_has_one_cost_everywhere_estimated_not_unknown(
    make_stream: Any, fake_provider: Any, settings: Any, user: User,
    price: tuple[Decimal, Decimal], card: str, api: str | None,
) -> None:
    """Usage that never arrived is estimated: the card, the API, the admin and the
    stage rows agree, and none says "unknown" (the cost of the estimate is known)."""
    from reports.providers import TransientError
    from reports.providers.fake import Script

    settings.LLM_PRICING = {**settings.LLM_PRICING, "fake-model": price}
    cut = TransientError("The connection dropped.", kind="stream_cut")
    fake_provider.script("sections", Script(fail_mid_stream=cut))
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    stream.refresh_from_db()
    assert stream.cost_complete is False

    snapshot = stream_snapshot(stream)
    assert snapshot["cost_usd"] is not None
    if api is not None:
        assert snapshot["cost_usd"] == api
    client = Client()
    client.force_login(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert f"<dt>Cost</dt><dd>{card}" in page
    assert "unknown" not in page
    assert "0.0000" not in page  # no four decimals of zeros anywhere
    assert " in / " in page and " out</span>" in page  # per-stage tokens are labelled
    user.is_staff = user.is_superuser = True
    user.save()
    admin_list = client.get("/admin/reports/streamingjob/").content.decode()
    assert card.split(" $")[0] in admin_list and "0.0000" not in admin_list
