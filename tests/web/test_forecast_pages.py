"""The forecast on the job forms (refreshed as the inputs change) and on the analytics
page beside what the runs cost."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from reports.models import Stage, StreamingJob, StreamStatus
from reports.streams import eta
from tests.conftest import REPORT_INPUT, csrf_form

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _priced_model(settings: Any) -> None:
    settings.LLM_MODEL = "house-model"
    settings.LLM_STAGE_MODELS = ""
    settings.ETA_HISTORY_CACHE_SECONDS = 0
    settings.LLM_PRICING = {**settings.LLM_PRICING, "house-model": (Decimal("2"), Decimal("10"))}
    eta.clear_history_cache()


def signed_in(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def total_cost(html: str) -> str:
    found = re.search(r"<strong data-forecast-cost>([^<]+)</strong>", html)
    assert found, html
    return found.group(1)


@pytest.mark.parametrize(("url", "job_type"), [("/reports/new/", "report"),
                                               ("/starmap/new/", "starmap"),
                                               ("/starmap/", "starmap")])
def test_the_forms_show_the_forecast_before_generate(user: User, url: str, job_type: str) -> None:
    html = signed_in(user).get(url).content.decode()
    assert f'id="forecast-{job_type}"' in html
    assert total_cost(html).startswith("$")
    assert "No runs with house-model yet" in html
    assert html.index('id="forecast-') < html.index('name="generate"')


def test_the_panel_follows_the_inputs(user: User) -> None:
    client = signed_in(user)
    short = client.post("/forecast/report/", csrf_form(client, REPORT_INPUT))
    assert short.status_code == 200
    longer = client.post("/forecast/report/",
                         csrf_form(client, {**REPORT_INPUT, "context_notes": "word " * 800}))
    costs = [Decimal(total_cost(r.content.decode()).lstrip("$")) for r in (short, longer)]
    assert costs[1] > costs[0]
    # A fragment only, ready to swap in place of the panel.
    body = longer.content.decode()
    assert "<section" not in body and "data-forecast-tokens" in body


def test_the_panel_refuses_what_it_should(user: User) -> None:
    client = signed_in(user)
    assert client.post("/forecast/nope/", csrf_form(client, {})).status_code == 404
    assert client.get("/forecast/report/").status_code == 405
    assert client.post("/forecast/report/", {}).status_code == 403  # no CSRF token
    anonymous = Client().post("/forecast/report/", {})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_analytics_puts_forecasts_beside_what_runs_cost(staff_user: User) -> None:
    now = timezone.now()
    for forecast_cost, cost in (("0.010000", "0.012"), ("0.020000", "0.030"), (None, "1")):
        StreamingJob.objects.create(
            type="report", job_id=uuid.uuid4(), owner=staff_user, title="T",
            status=StreamStatus.COMPLETED, cost_usd=Decimal(cost),
            started_at=now - timedelta(seconds=30), finished_at=now,
            forecast={"stages": [], "cost_usd": forecast_cost, "seconds": 20.0,
                      "basis": {"runs": 2, "model": "house-model"}},
        )
    StreamingJob.objects.create(type="report", job_id=uuid.uuid4(), owner=staff_user,
                                title="Old", status=StreamStatus.COMPLETED)  # no forecast
    html = signed_in(staff_user).get("/analytics/").content.decode()
    section = html[html.index('id="forecasts"'):]
    assert "3 completed streams had a forecast" in section
    # Actual / forecast cost: 120% and 150%, median 135%; time 30 s / 20 s = 150%.
    assert "<strong data-cost-ratio>135%</strong>" in section
    assert "<strong data-time-ratio>150%</strong>" in section
    assert section.count("<tr>") == 1 + 3


def test_the_panel_says_how_many_runs_it_draws_on_and_what_it_estimates(user: User) -> None:
    from tests.streams.test_forecast import past_run

    for seconds in (10.0, 30.0):
        past_run(user, tokens=1000, cost="0.01", seconds=seconds)
    Stage.objects.filter(key="summary").delete()  # no history for the summary
    html = signed_in(user).get("/reports/new/").content.decode()
    assert "Medians of the last 2 runs with house-model" in html
    assert "estimated from prompt sizes and output limits for Executive summary." in html
