"""Settings are parsed once (reports.domain.config): the engine, the estimates and the
system checks all read the same values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from reports.domain.config import config, parse_budget, parse_stage_models
from reports.models import Stage
from reports.runtime.checks import check_settings
from reports.streams.eta import predicted_model


def test_stage_models_are_parsed_with_spaces_around_items_and_names() -> None:
    found, problems = parse_stage_models(" report:outline = a, starmap:risks=b ,")
    assert found == {"report:outline": "a", "starmap:risks": "b"}
    assert problems == []


@pytest.mark.parametrize("item", ["outline=a", "report:outline=", "report:=a", ":x=a"])
def test_a_malformed_stage_model_item_is_a_problem(item: str) -> None:
    assert parse_stage_models(f"report:brief=ok,{item}") == ({"report:brief": "ok"}, [item])


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "NaN", "Infinity"])
def test_a_budget_must_be_a_positive_amount(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_budget(raw)


def test_a_budget_is_a_decimal_or_none() -> None:
    assert parse_budget(" 0.50 ") == Decimal("0.50")
    assert parse_budget("") is None


def test_the_estimate_sees_the_stage_model_the_engine_uses(
    make_stream: Any, settings: Any
) -> None:
    """``"report:brief=a, report:outline=b"``: the space after the comma used to hide the
    outline's model from the time estimate (it had its own parser) while the engine
    used it."""
    settings.LLM_STAGE_MODELS = "report:brief=a, report:outline=b"
    stream = make_stream()
    stages = list(Stage.objects.filter(stream=stream).in_order())
    outline = next(s for s in stages if s.key == "outline")
    assert predicted_model(stream, outline, stages) == "b"
    assert config().model_for("report", "outline") == "b"


def test_the_checks_report_what_the_code_could_not_parse(settings: Any) -> None:
    settings.STREAM_BUDGET_USD = "ten dollars"
    settings.LLM_STAGE_MODELS = "report:outline=a,nonsense"
    errors = {error.id: error.msg for error in check_settings()}
    assert set(errors) == {"reports.E003", "reports.E004"}
    assert "STREAM_BUDGET_USD" in errors["reports.E003"]
    assert "'nonsense'" in errors["reports.E004"]
    assert config().stream_budget_usd is None  # the code runs without a budget meanwhile


def test_config_follows_a_changed_setting(settings: Any) -> None:
    settings.STREAM_BUDGET_USD = "1.25"
    assert config().stream_budget_usd == Decimal("1.25")
    settings.STREAM_BUDGET_USD = ""
    assert config().stream_budget_usd is None


def test_pricing_takes_two_or_four_rates_and_reports_the_rest(settings: Any) -> None:
    settings.LLM_PRICING = {
        "plain": (Decimal("1"), Decimal("2")),
        "cached": ("1", "2", "0.1", "1.25"),
        "one": (Decimal("1"),),
        "negative": (Decimal("1"), Decimal("-2")),
        "words": ("cheap", "dear"),
    }
    assert config().pricing == {
        "plain": (Decimal("1"), Decimal("2")),
        "cached": (Decimal("1"), Decimal("2"), Decimal("0.1"), Decimal("1.25")),
    }
    errors = [error.msg for error in check_settings() if error.id == "reports.E005"]
    assert len(errors) == 3 and all(msg.startswith("LLM_PRICING for") for msg in errors)
    assert any("'words'" in msg for msg in errors)


def test_an_unknown_stream_parser_is_a_problem_and_lean_is_used(settings: Any) -> None:
    settings.LLM_STREAM_PARSER = "fast"
    errors = [error.msg for error in check_settings()]
    assert any(msg.startswith("LLM_STREAM_PARSER 'fast' is not lean or sdk") for msg in errors)
    assert config().lean_streaming
    settings.LLM_STREAM_PARSER = "SDK"
    assert not config().lean_streaming


def test_provider_keys_come_from_config_and_never_show_in_its_repr(settings: Any) -> None:
    settings.OPENAI_API_KEY = " sk-test-not-shown-0123 "
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9/"
    assert config().openai_api_key == "sk-test-not-shown-0123"
    assert config().anthropic_base_url == "http://127.0.0.1:9/"
    assert "sk-test-not-shown" not in repr(config())


def test_the_request_body_limit_follows_the_setting(client: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = client.post("/api/streams/", data=b"x" * 4096, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"] == "The request body is over 2 KiB."
