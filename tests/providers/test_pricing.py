"""Costs of models without a price: local ones cost 0 and say so, an operator prices any
model from the environment, and the API never gives a null cost without saying why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from reports.domain.config import config
from reports.models import Report, StreamStatus
from reports.providers import Usage, override_provider
from reports.providers.fake import FakeProvider
from reports.providers.pricing import cost_for, is_free, price_for
from reports.runtime.engine import run_stream
from reports.streams.selectors import stream_snapshot

streams_db = pytest.mark.django_db(transaction=True)
LOCAL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_llm_prices_extends_the_price_list(settings: Any) -> None:
    settings.LLM_PRICES = "my-model=0.5/1.5, other=1/2/0.1/1.25"
    assert price_for("my-model") == (Decimal("0.5"), Decimal("1.5"))
    assert cost_for("other", Usage(1_000_000, 0, tokens_cached=500_000)) == Decimal("0.55")
    assert price_for("gpt-4o-mini") is not None  # the built-in prices stay


@pytest.mark.parametrize("raw", ["my-model", "my-model=abc/1", "my-model=1", "=1/2"])
def test_a_malformed_llm_prices_item_is_a_system_check_error(settings: Any, raw: str) -> None:
    settings.LLM_PRICES = raw
    assert any(name == "LLM_PRICES" for name, _ in config().problems)
    with pytest.raises(SystemCheckError, match="LLM_PRICES"):
        call_command("check")


def test_a_local_model_costs_nothing_whatever_its_tokens() -> None:
    assert cost_for(LOCAL, Usage(12_000, 3_000)) == Decimal(0)
    assert is_free(LOCAL)
    assert price_for("some-hosted-model") is None


@streams_db
def test_a_local_models_stages_cost_zero_and_say_local(
    make_stream: Any, user: Any, settings: Any
) -> None:
    with_model = FakeProvider(default_model=LOCAL)
    stream = make_stream()
    with override_provider(with_model):
        assert run_stream(stream.pk) == StreamStatus.COMPLETED

    snapshot = stream_snapshot(stream)
    assert (snapshot["cost_usd"], snapshot["cost_status"]) == ("0.000000", "local")
    model_stages = [s for s in snapshot["stages"] if s["model"]]
    assert model_stages and all(s["cost_status"] == "local" for s in model_stages)
    assert all(s["cost_usd"] == "0.000000" for s in model_stages)
    client = Client()
    client.force_login(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert "<dt>Cost</dt><dd>local" in page
    assert f'<span class="stage-model" title="The model that wrote this stage">{LOCAL}</span>' \
        in page  # each stage row names the model that wrote it
    assert " tok/s</span>" in page
    report = Report.objects.get(stream=stream)
    document = client.get(report.get_absolute_url()).content.decode()
    assert f'<dt>Written by</dt><dd class="doc-models">{LOCAL} (local)</dd>' in document


@streams_db
def test_an_unpriced_model_says_no_price_set_and_how_to_set_one(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    snapshot = stream_snapshot(stream)
    assert snapshot["cost_usd"] is None and snapshot["cost_status"] == "no_price"
    assert 'LLM_PRICES="fake-model=input/output"' in snapshot["cost_note"]
    for stage in snapshot["stages"]:
        if stage["status"] == "completed" and stage["cost_usd"] is None:
            assert stage["cost_status"] in ("no_price", "not_run"), stage
            assert stage["cost_status"] == "not_run" or stage["cost_note"], stage


@streams_db
def test_a_priced_model_has_an_amount_and_no_note(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_PRICES = "fake-model=1/2"
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    stream.refresh_from_db()

    snapshot = stream_snapshot(stream)
    assert snapshot["cost_status"] == "priced" and snapshot["cost_note"] is None
    assert Decimal(snapshot["cost_usd"]) > 0
    built = [s for s in snapshot["stages"] if not s["attempts"]]
    assert built and all(s["cost_status"] == "not_run" for s in built)  # the assembly
