"""Budgets: a stream stops at its budget within a checkpoint (the model's stream closed,
the running stage's partial text kept), ends failed with ``budget_exceeded`` naming the
spend and the budget, and Resume with a higher budget completes it. The offline model
is given a price here: it costs nothing otherwise."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.domain.money import usd_label
from reports.models import StageStatus, StreamingJob, StreamStatus
from reports.runtime.engine import run_stream
from reports.streams.selectors import stream_snapshot
from reports.streams.services import create_streaming_job
from tests.conftest import REPORT_INPUT, UNPACED, csrf_form, post_json

pytestmark = pytest.mark.django_db(transaction=True)

# $1,000 per million output tokens: a tenth of a cent a token.
PER_TOKEN_OUT = Decimal("0.001")
RATE = 100  # tokens a second
BUDGET = Decimal("0.02")  # 20 tokens: reached a fifth of a second into the first stage


@pytest.fixture(autouse=True)
def _priced_offline_model(settings: Any) -> None:
    settings.LLM_PROVIDER = "offline"
    settings.LLM_MODEL = ""
    settings.LLM_STAGE_MODELS = ""
    settings.LLM_PRICING = {**settings.LLM_PRICING, "offline": (Decimal("0"), Decimal("1000"))}
    settings.CHECKPOINT_SECONDS = 0.1
    settings.STREAM_BUDGET_USD = ""


def signed_in(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def over_budget_stream(user: User) -> StreamingJob:
    stream, _ = create_streaming_job(user=user, type="report", input_data=REPORT_INPUT,
                                     offline_model=f"rate={RATE}", budget_usd=BUDGET)
    assert run_stream(stream.pk) == StreamStatus.FAILED
    stream.refresh_from_db()
    return stream


def test_a_stream_stops_at_its_budget_keeping_the_partial_text(user: User) -> None:
    stream = over_budget_stream(user)

    assert stream.error_kind == "budget_exceeded"
    spent = stream.cost_usd
    assert spent >= BUDGET
    # Stopped at the next checkpoint after the budget was reached (0.1 s here; the
    # contract is 2 s): at most 2 s of tokens past it were paid for.
    assert spent <= BUDGET + 2 * RATE * PER_TOKEN_OUT
    assert f"{usd_label(spent)} spent of a $0.020 budget" in stream.error
    brief = stream.stages.get(key="brief")
    assert brief.status == StageStatus.CANCELLED
    assert brief.output  # the partial text is kept
    assert brief.tokens_out < 600  # the output limit: it did not run to the end
    assert stream.stages.filter(status=StageStatus.PENDING).count() == 6
    snapshot = stream_snapshot(stream)
    assert (snapshot["status"], snapshot["error_kind"]) == ("failed", "budget_exceeded")
    assert snapshot["budget_usd"] == "0.020000"


def test_resume_with_a_higher_budget_goes_on_from_the_stopped_stage(user: User) -> None:
    stream = over_budget_stream(user)
    client = signed_in(user)
    url = f"/api/streams/{stream.pk}/resume/"

    refused = post_json(client, url)  # the same budget would stop it at once
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_input"
    assert "budget_usd" in refused.json()["message"]
    too_low = post_json(client, url, {"budget_usd": str(stream.cost_usd)})
    assert too_low.status_code == 422
    assert too_low.json()["details"][0]["field"] == "budget_usd"

    StreamingJob.objects.filter(pk=stream.pk).update(offline_model=f"rate={UNPACED}")
    resumed = post_json(client, url, {"budget_usd": 1000})
    assert resumed.status_code == 200, resumed.content
    assert (resumed.json()["status"], resumed.json()["budget_usd"]) == ("pending", "1000.000000")
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    stream.refresh_from_db()
    assert (stream.error_kind, stream.error) == ("", "")
    assert stream.stages.get(key="brief").status == StageStatus.COMPLETED


@pytest.mark.parametrize("value", [0, -1, "abc", "0.00001", True, "1e12", "NaN"])
def test_a_budget_that_is_not_an_amount_over_zero_is_422(user: User, value: Any) -> None:
    response = post_json(signed_in(user), "/api/streams/",
                         {"type": "report", "input_data": REPORT_INPUT, "budget_usd": value})
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "invalid_input"
    assert response.json()["details"][0]["field"].endswith("budget_usd")
    assert not StreamingJob.objects.exists()


def test_the_budget_defaults_to_the_setting_and_is_in_the_snapshot(
    user: User, settings: Any
) -> None:
    client = signed_in(user)
    none = post_json(client, "/api/streams/", {"type": "report", "input_data": REPORT_INPUT})
    assert none.json()["budget_usd"] is None
    settings.STREAM_BUDGET_USD = "0.75"
    default = post_json(client, "/api/streams/", {"type": "report", "input_data": REPORT_INPUT})
    assert default.json()["budget_usd"] == "0.750000"
    own = post_json(client, "/api/streams/",
                    {"type": "report", "input_data": REPORT_INPUT, "budget_usd": 2.5})
    assert own.status_code == 201
    assert own.json()["budget_usd"] == "2.500000"
    assert StreamingJob.objects.get(pk=own.json()["stream_id"]).budget_usd == Decimal("2.5")


def test_the_card_shows_spend_against_budget_and_resumes_with_a_new_one(user: User) -> None:
    stream = over_budget_stream(user)
    client = signed_in(user)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert ">Budget reached<" in page
    assert "of $0.020 budget" in page
    assert stream.error in page.replace("&#x27;", "'")
    assert 'name="budget_usd"' in page and 'value="0.04"' in page  # twice the old one

    refused = client.post(f"/streams/{stream.pk}/resume/",
                          csrf_form(client, {"budget_usd": "0"}), follow=True)
    assert "budget_usd must be an amount" in refused.content.decode()
    StreamingJob.objects.filter(pk=stream.pk).update(offline_model=f"rate={UNPACED}")
    client.post(f"/streams/{stream.pk}/resume/", csrf_form(client, {"budget_usd": "500"}))
    stream.refresh_from_db()
    assert (stream.status, stream.budget_usd) == (StreamStatus.PENDING, Decimal("500"))
    assert run_stream(stream.pk) == StreamStatus.COMPLETED


def test_the_forms_set_the_budget_of_the_first_generation(user: User) -> None:
    client = signed_in(user)
    form = {**REPORT_INPUT, "budget_usd": "0.25", "generate": "1"}
    client.post("/reports/new/", csrf_form(client, form))
    assert StreamingJob.objects.get().budget_usd == Decimal("0.25")
    refused = client.post("/reports/new/", csrf_form(client, {**form, "budget_usd": "0"}))
    assert refused.status_code == 200
    assert "Ensure this value is greater than or equal to 0.0001" in refused.content.decode()
    assert StreamingJob.objects.count() == 1
    starmap = client.get("/starmap/new/").content.decode()
    assert 'name="budget_usd"' in starmap
