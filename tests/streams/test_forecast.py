"""Forecasts (``POST /api/forecast/``): medians of recent runs of the same type, stage and
model, or with no history the prompt's size, the output limit and the model's price."""

from __future__ import annotations

import statistics
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from reports.client_report.pipeline import PIPELINE
from reports.models import Stage, StageStatus, StreamingJob, StreamStatus
from reports.providers.base import Usage
from reports.providers.pricing import cost_for
from reports.streams import eta
from reports.streams.forecast import forecast_job, forecast_rerun
from tests.conftest import REPORT_INPUT, post_json

pytestmark = pytest.mark.django_db

KEYS = [spec.key for spec in PIPELINE.stages]
URL = "/api/forecast/"


@pytest.fixture(autouse=True)
def _model(settings: Any) -> None:
    settings.LLM_MODEL = "house-model"
    settings.LLM_STAGE_MODELS = ""
    settings.LLM_OUTPUT_LIMITS = ""
    settings.LLM_OUTPUT_SCALE = "1"
    settings.ETA_HISTORY_CACHE_SECONDS = 0
    settings.LLM_PRICING = {**settings.LLM_PRICING,
                            "house-model": (Decimal("2"), Decimal("10"))}
    eta.clear_history_cache()


def api(user: User) -> Client:
    """A signed-in client that enforces CSRF, with its CSRF cookie set."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def past_run(owner: User, *, tokens: int, cost: str, seconds: float,
             model: str = "house-model", job_type: str = "report") -> StreamingJob:
    """A completed stream whose model stages each took ``seconds`` and used ``tokens``
    in and half of that out for ``cost``."""
    stream = StreamingJob.objects.create(type=job_type, job_id=uuid.uuid4(), owner=owner,
                                         title="T", status=StreamStatus.COMPLETED)
    end = timezone.now() - timedelta(hours=1)
    Stage.objects.bulk_create(
        Stage(stream=stream, key=spec.key, title=spec.title, position=i,
              status=StageStatus.COMPLETED, model=model if spec.calls_model else "",
              attempts=1 if spec.calls_model else 0,
              tokens_in=tokens if spec.calls_model else 0,
              tokens_out=tokens // 2 if spec.calls_model else 0,
              cost_usd=Decimal(cost) if spec.calls_model else None,
              started_at=end - timedelta(seconds=seconds), finished_at=end)
        for i, spec in enumerate(PIPELINE.stages)
    )
    return stream


def test_with_no_history_it_prices_the_prompt_and_the_output_limit(user: User) -> None:
    client = api(user)
    response = post_json(client, URL, {"type": "report", "input_data": REPORT_INPUT})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["basis"] == {"runs": 0, "model": "house-model"}
    assert [stage["key"] for stage in body["stages"]] == KEYS
    sections = next(stage for stage in body["stages"] if stage["key"] == "sections")
    assert sections["tokens_out"] == PIPELINE.stage("sections").max_tokens == 3000
    assert sections["tokens_in"] > 0 and sections["runs"] == 0
    priced = cost_for("house-model", Usage(sections["tokens_in"], 3000))
    assert sections["cost_usd"] == f"{priced:.6f}"
    assembly = next(stage for stage in body["stages"] if stage["key"] == "assembly")
    assert (assembly["tokens_in"], assembly["cost_usd"]) == (0, "0.000000")
    total = sum(Decimal(stage["cost_usd"]) for stage in body["stages"])
    assert Decimal(body["cost_usd"]) == total
    # A linear pipeline: the stages follow each other.
    assert body["seconds"] == pytest.approx(sum(s["seconds"] for s in body["stages"]), abs=0.2)


def test_longer_inputs_make_longer_prompts(user: User) -> None:
    short = forecast_job(job_type="report", input_data=REPORT_INPUT)
    longer = forecast_job(job_type="report",
                          input_data={**REPORT_INPUT, "context_notes": "word " * 800})
    assert longer.stages[0].tokens_in > short.stages[0].tokens_in + 500
    assert longer.cost_usd is not None and short.cost_usd is not None
    assert longer.cost_usd > short.cost_usd


def test_an_unpriced_model_has_no_cost_but_still_tokens_and_time(user: User) -> None:
    body = post_json(api(user), URL, {"type": "report", "model": "no-price-model"}).json()
    assert body["cost_usd"] is None
    assert body["basis"]["model"] == "no-price-model"
    assert body["stages"][0]["cost_usd"] is None and body["stages"][0]["tokens_out"] > 0
    assert body["seconds"] > 0


def test_with_history_it_gives_the_medians_and_how_many_runs(user: User) -> None:
    runs = [(1000, "0.010000", 10.0), (2000, "0.030000", 20.0), (9000, "0.500000", 90.0)]
    for tokens, cost, seconds in runs:
        past_run(user, tokens=tokens, cost=cost, seconds=seconds)
    past_run(user, tokens=50_000, cost="9", seconds=500, model="other-model")  # not this model
    past_run(user, tokens=50_000, cost="9", seconds=500, job_type="starmap")  # not this type

    body = post_json(api(user), URL, {"type": "report"}).json()

    assert body["basis"] == {"runs": 3, "model": "house-model"}
    brief = body["stages"][0]
    assert brief == {"key": "brief", "tokens_in": 2000, "tokens_out": 1000,
                     "cost_usd": "0.030000", "seconds": 20.0, "runs": 3}
    model_stages = [s for s in body["stages"] if s["key"] != "assembly"]
    assert Decimal(body["cost_usd"]) == Decimal("0.03") * len(model_stages)
    # Assembly makes no model call: its history is every report run's (10, 20, 90, 500 s).
    assert body["stages"][-1]["seconds"] == 55.0
    assert body["seconds"] == pytest.approx(20.0 * len(model_stages) + 55.0)
    other = post_json(api(user), URL, {"type": "report", "model": "other-model"}).json()
    assert other["basis"]["runs"] == 1
    assert other["stages"][0]["tokens_in"] == 50_000


def test_history_is_the_recent_runs_only(user: User) -> None:
    old = past_run(user, tokens=1000, cost="1", seconds=1)
    Stage.objects.filter(stream=old).update(finished_at=timezone.now() - timedelta(days=90))
    assert forecast_job(job_type="report").runs == 0


def test_a_stream_from_a_stage_forecasts_that_stage_and_the_ones_after(
    user: User, make_stream: Any
) -> None:
    stream = make_stream()
    body = post_json(api(user), URL, {"stream_id": str(stream.pk), "from_stage": "outline"}).json()
    assert [s["key"] for s in body["stages"]] == KEYS[KEYS.index("outline"):]
    # Without from_stage: what Resume would run (here: every stage, none finished).
    whole = post_json(api(user), URL, {"stream_id": str(stream.pk)}).json()
    assert [s["key"] for s in whole["stages"]] == KEYS


def test_a_rerun_forecast_counts_the_outputs_already_written(user: User, make_stream: Any) -> None:
    stream = make_stream()
    Stage.objects.filter(stream=stream, key="sections").update(
        status=StageStatus.COMPLETED, output="word " * 4000
    )
    rerun = forecast_rerun(stream, ["summary", "recommendations"])
    assert [s["key"] for s in rerun["stages"]] == ["recommendations", "summary"]
    fresh = forecast_job(job_type="report", input_data=stream.input_data)
    fresh_recommendations = next(s for s in fresh.stages if s.key == "recommendations")
    # The 4,000-word sections are read as they are, not as their forecast.
    assert rerun["stages"][0]["tokens_in"] > fresh_recommendations.tokens_in
    assert rerun["basis"]["runs"] == 0


def test_a_new_stream_keeps_the_forecast_it_was_created_with(make_stream: Any) -> None:
    stream = make_stream()
    assert stream.forecast is not None
    assert [s["key"] for s in stream.forecast["stages"]] == KEYS
    assert stream.forecast["basis"]["model"] == "house-model"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 422, "invalid_input"),
    ({"type": "no-such-type"}, 422, "invalid_input"),
    ({"type": "report", "input_data": "text"}, 422, "invalid_input"),
    ({"type": "report", "model": "m" * 200}, 422, "invalid_input"),
    ({"stream_id": "not-a-uuid"}, 404, "not_found"),
    ({"stream_id": str(uuid.UUID(int=7))}, 404, "not_found"),
])
def test_bad_requests_are_4xx_json(user: User, body: dict[str, Any], status: int,
                                   code: str) -> None:
    response = post_json(api(user), URL, body)
    assert response.status_code == status, response.content
    assert response.json()["error"] == code


def test_an_unknown_from_stage_is_422(user: User, make_stream: Any) -> None:
    stream = make_stream()
    response = post_json(api(user), URL, {"stream_id": str(stream.pk), "from_stage": "nope"})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "from_stage"


def test_only_the_owner_or_staff_forecast_a_stream(
    make_stream: Any, other_user: User, staff_user: User
) -> None:
    stream = make_stream()
    body = {"stream_id": str(stream.pk)}
    assert post_json(api(other_user), URL, body).status_code == 404
    assert post_json(api(staff_user), URL, body).status_code == 200


def test_anonymous_and_csrf_less_requests_are_refused(user: User) -> None:
    assert post_json(Client(), URL, {"type": "report"}).status_code == 401
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(URL, "{\"type\": \"report\"}", content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"


def test_medians_are_medians(user: User) -> None:
    """Four runs: the median is the mean of the middle two (not one of the runs)."""
    for seconds in (10.0, 20.0, 30.0, 1000.0):
        past_run(user, tokens=1000, cost="0.01", seconds=seconds)
    first = forecast_job(job_type="report").stages[0]
    assert first.seconds == statistics.median([10.0, 20.0, 30.0, 1000.0]) == 25.0
    assert first.runs == 4
