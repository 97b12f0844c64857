"""One input model per job type: the form, the API and the published schema agree."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.template.loader import render_to_string
from django.test import Client
from pydantic import BaseModel, ConfigDict, Field, field_validator

from reports.client_report.forms import ReportJobForm
from reports.models import ReportJob
from reports.web.forms import SchemaForm
from starmap.forms import StarmapJobForm
from starmap.models import StarmapJob
from tests.conftest import REPORT_INPUT, post_json
from tests.starmap.conftest import STARMAP_INPUT

FORMS: dict[str, type[SchemaForm]] = {"report": ReportJobForm, "starmap": StarmapJobForm}
JOBS: dict[str, Any] = {"report": ReportJob, "starmap": StarmapJob}
BASE: dict[str, dict[str, Any]] = {"report": REPORT_INPUT, "starmap": STARMAP_INPUT}


def post(client: Client, type: str, input_data: Any) -> Any:
    return post_json(client, "/api/streams/", {"type": type, "input_data": input_data})


@pytest.mark.django_db
def test_api_refuses_a_blank_report_title(api: Client) -> None:
    response = post(api, "report", {**REPORT_INPUT, "title": "   "})

    assert response.status_code == 422
    assert {item["field"] for item in response.json()["details"]} == {"title"}
    assert not ReportJob.objects.exists()


@pytest.mark.django_db
def test_api_refuses_an_unknown_report_field(api: Client) -> None:
    response = post(api, "report", {**REPORT_INPUT, "surprise": "field"})

    assert response.status_code == 422
    assert {item["field"] for item in response.json()["details"]} == {"surprise"}
    assert not ReportJob.objects.exists()


@pytest.mark.django_db
def test_api_strips_report_inputs(api: Client) -> None:
    response = post(api, "report", {**REPORT_INPUT, "title": "  Spaced  "})

    assert response.status_code == 201
    assert ReportJob.objects.get().title == "Spaced"


@pytest.mark.django_db
def test_api_reads_amounts_as_the_form_does(api: Client) -> None:
    response = post(api, "starmap", {**STARMAP_INPUT, "budget": "EUR 12000.50"})

    assert response.status_code == 201
    assert str(StarmapJob.objects.get().budget) == "12000.50"


@pytest.mark.django_db
def test_published_schema_lists_the_choices(api: Client) -> None:
    pipelines = {p["type"]: p["input_schema"] for p in api.get("/api/pipelines/").json()}
    starmap = pipelines["starmap"]

    def enum(prop: dict[str, Any]) -> list[str]:
        ref = prop.get("$ref", "")
        return prop.get("enum") or starmap["$defs"][ref.rsplit("/", 1)[-1]]["enum"]

    assert enum(starmap["properties"]["size"]) == ["1-49", "50-249", "250-999", "1000-4999",
                                                   "5000+"]
    assert "EUR" in enum(starmap["properties"]["currency"])
    for schema in pipelines.values():
        assert schema["additionalProperties"] is False
    report = pipelines["report"]["properties"]
    assert report["title"]["minLength"] == 1 and report["title"]["maxLength"] == 200
    assert report["objective"]["maxLength"] == 4000


SAME_VERDICT = [
    ("report", {}),
    ("report", {"title": "  "}),
    ("report", {"title": "  Spaced  "}),
    ("report", {"client": "c" * 201}),
    ("report", {"objective": "o" * 4001}),
    ("report", {"audience": ""}),
    ("starmap", {}),
    ("starmap", {"title": " "}),
    ("starmap", {"budget": "$50,000"}),
    ("starmap", {"budget": "50 000 €"}),
    ("starmap", {"budget": ""}),
    ("starmap", {"budget": "0"}),
    ("starmap", {"budget": "lots"}),
    ("starmap", {"budget": "12.345"}),
    ("starmap", {"budget": "99999999999"}),
    ("starmap", {"size": "huge"}),
    ("starmap", {"currency": "eur"}),
    ("starmap", {"timeline": "t" * 301}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("type", "changes"),
    SAME_VERDICT,
    ids=[f"{t}-{'-'.join(f'{k}={v[:12]!r}' for k, v in c.items()) or 'full'}"
         for t, c in SAME_VERDICT],
)
def test_form_and_api_give_the_same_verdict(
    api: Client, type: str, changes: dict[str, Any]
) -> None:
    data = {**BASE[type], **changes}
    # (Unknown fields are left out: a form binds only its own, and a POST always carries
    # others, such as the CSRF token and the button pressed.)
    form = FORMS[type](data)
    response = post(api, type, data)

    form_fields = {name for name, errors in form.errors.items() if errors}
    api_fields: set[str] = set()
    if response.status_code == 422:
        api_fields = {item["field"] for item in response.json()["details"]}
    assert response.status_code in (201, 422), response.content
    assert form.is_valid() == (response.status_code == 201), (form.errors, response.json())
    assert form_fields == api_fields
    if form.is_valid():
        job = JOBS[type].objects.get()
        # (The job's inputs: the form also has the first generation's options.)
        assert {k: getattr(job, k) for k in form.input_data} == form.input_data


class Shouting(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: str = Field(min_length=1, max_length=20)
    shout: str = Field(default="", max_length=10)

    @field_validator("shout")
    @classmethod
    def _loud(cls, value: str) -> str:
        if value and value != value.upper():
            raise ValueError("Shout in capitals.")
        return value


class ShoutingForm(SchemaForm):
    schema = Shouting
    widgets = {"shout": forms.Textarea(attrs={"rows": 1})}


def test_schema_form_fields_and_model_errors() -> None:
    form = ShoutingForm({"name": " Ann ", "shout": "hey"})

    assert isinstance(form.fields["name"], forms.CharField)
    assert form.fields["name"].required and form.fields["name"].max_length == 20
    assert not form.fields["shout"].required
    # The limit is shown as a counter, not enforced by a maxlength that cuts text silently.
    assert 'data-maxlength="10"' in str(form["shout"]) and 'rows="1"' in str(form["shout"])
    assert "maxlength=" not in str(form["shout"]).replace("data-maxlength=", "")
    assert not form.is_valid()
    assert form.errors == {"shout": ["Shout in capitals."]}
    assert ShoutingForm({"name": " Ann ", "shout": "HEY"}).is_valid()


class Verbatim(BaseModel):
    """A model that keeps whitespace: its form must keep it too."""

    text: str = Field(min_length=1, max_length=5)


class VerbatimForm(SchemaForm):
    schema = Verbatim


class Counted(BaseModel):
    count: int


class CountedForm(SchemaForm):
    schema = Counted


def test_schema_form_strips_only_when_the_model_does() -> None:
    form = VerbatimForm({"text": " a "})

    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"text": " a "}


def test_schema_form_refuses_types_it_cannot_check() -> None:
    with pytest.raises(TypeError, match="int"):
        CountedForm()


@pytest.mark.django_db
def test_client_report_partials_render_alone() -> None:
    form_html = render_to_string("client_report/job_form.html#create-form",
                                 {"form": ReportJobForm()})
    cards_html = render_to_string("client_report/job_list.html#cards",
                                  {"cards": [], "stream_ids": []})

    assert form_html.lstrip().startswith("<form") and 'name="title"' in form_html
    assert "<h1>" not in form_html
    assert 'id="live-root"' in cards_html and "<h1>" not in cards_html
