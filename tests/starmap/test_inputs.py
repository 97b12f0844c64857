"""Bad input is refused with clear errors: the form, the API, the objectives validator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.pipelines import OutputInvalid
from reports.pipelines.structured import parse_output
from reports.providers.fake import FakeProvider
from starmap.forms import StarmapJobForm
from starmap.models import StarmapJob
from starmap.outputs import Objectives
from starmap.pipeline import StarmapInput
from tests.conftest import post_json
from tests.starmap.conftest import STARMAP_INPUT


def post(client: Client, payload: Any) -> Any:
    return post_json(client, "/api/streams/", payload)


@pytest.mark.django_db
def test_form_accepts_a_full_brief_and_strips_it() -> None:
    form = StarmapJobForm({**STARMAP_INPUT, "title": "  Spaced  ", "budget": "$50,000"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["title"] == "Spaced"
    assert str(form.cleaned_data["budget"]) == "50000"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "   ", "This field is required."),
        ("organisation", "", "This field is required."),
        ("business_goals", "x" * 4001, "at most 4000 characters"),
        ("timeline", "t" * 301, "at most 300 characters"),
        ("size", "huge", "Select a valid choice"),
        ("budget", "0", "Enter a positive amount."),
        ("budget", "-10", "Enter a positive amount."),
        ("budget", "lots", "Enter an amount"),
        ("budget", "12.345", "no more than 2 decimal places"),
        ("currency", "XYZ", "Select a valid choice"),
    ],
)
def test_form_rejects_bad_input(field: str, value: str, message: str) -> None:
    form = StarmapJobForm({**STARMAP_INPUT, field: value})
    assert not form.is_valid()
    assert message in " ".join(str(error) for error in form.errors[field])


@pytest.mark.django_db
def test_optional_fields_may_be_empty() -> None:
    form = StarmapJobForm(
        {**STARMAP_INPUT, "budget": "", "constraints": "", "delivery_preferences": ""}
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["budget"] is None


def test_schema_limits() -> None:
    assert StarmapInput.model_validate(STARMAP_INPUT).currency == "EUR"
    # The schema publishes the currencies as an enum, so it holds to their spelling
    # (the form's select can only send these; the API once took "eur" as well).
    for bad in ({"budget": -1}, {"budget": "0"}, {"size": "huge"}, {"title": " "},
                {"timeline": "x" * 301}, {"surprise": "field"}, {"currency": "eur"}):
        with pytest.raises(ValueError):
            StarmapInput.model_validate({**STARMAP_INPUT, **bad})


@pytest.mark.django_db(transaction=True)
def test_api_rejects_bad_input_with_field_errors(api: Client) -> None:
    bad = {**STARMAP_INPUT, "budget": -5, "size": "huge", "organisation": ""}
    del bad["business_goals"]

    response = post(api, {"type": "starmap", "input_data": bad})

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    fields = {item["field"] for item in body["details"]}
    assert fields == {"budget", "size", "organisation", "business_goals"}
    assert all(item["message"] for item in body["details"])
    assert not StarmapJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_api_rejects_input_data_that_is_not_an_object(api: Client) -> None:
    response = post(api, {"type": "starmap", "input_data": ["not", "an", "object"]})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


@pytest.mark.django_db(transaction=True)
def test_api_creates_a_starmap_and_lists_its_pipeline(
    api: Client, user: User, fake_provider: FakeProvider
) -> None:
    response = post(api, {"type": "starmap", "input_data": {**STARMAP_INPUT, "budget": 1200.5}})

    assert response.status_code == 201
    snapshot = response.json()
    assert snapshot["type"] == "starmap" and snapshot["status"] == "pending"
    assert len(snapshot["stages"]) == 10
    job = StarmapJob.objects.get(pk=snapshot["job_id"])
    assert job.owner == user and str(job.budget) == "1200.50"
    pipelines = {p["type"]: p for p in api.get("/api/pipelines/").json()}
    starmap = pipelines["starmap"]
    assert "budget" in starmap["input_schema"]["properties"]
    assert [s["key"] for s in starmap["stages"]][-1] == "assembly"


def objectives(count: int = 3, **overrides: Any) -> str:
    item = {"id": "LO1", "audience": "Leads", "objective": "Leads can coach.",
            "level": "apply", "measure": "Observed.", **overrides}
    return json.dumps([item] * count)


def test_objectives_validator() -> None:
    assert len(parse_output(Objectives, "```json\n" + objectives() + "\n```")) == 3
    wrapped = json.dumps({"objectives": json.loads(objectives(level="Apply"))})
    assert [item["level"] for item in parse_output(Objectives, wrapped)] == ["apply"] * 3
    for text, message in [
        ("not json", "not valid JSON"),
        (objectives(2), "at least 3"),
        (objectives(13), "at most 12"),
        (objectives(measure=" "), "objectives.0.measure: String should have at least 1"),
        (objectives(level="guess"), "objectives.0.level: Input should be"),
        (json.dumps([{"id": "LO1"}] * 3), "objectives.0.audience: Field required"),
    ]:
        with pytest.raises(OutputInvalid, match=message):
            parse_output(Objectives, text)
