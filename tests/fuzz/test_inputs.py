"""Hypothesis: inputs built from the published schema are always accepted; arbitrary
text in any form field or WebSocket frame is refused cleanly, never with an exception.
``make test`` runs these on SQLite and again on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from reports.client_report.forms import ReportJobForm
from reports.live.frames import BadFrame, decode_frame
from reports.pipelines import all_pipelines, get_pipeline
from reports.streams.services import job_create
from starmap.forms import StarmapJobForm

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SCHEMAS = {p.type: p.input_schema.model_json_schema() for p in all_pipelines()}
FORMS = {"report": ReportJobForm, "starmap": StarmapJobForm}


@pytest.fixture
def client(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.parametrize("job_type", sorted(SCHEMAS))
def test_input_built_from_the_published_schema_is_never_refused(
    client: Client, job_type: str
) -> None:
    @FUZZ
    @given(from_schema(SCHEMAS[job_type]))
    def check(inputs: dict[str, Any]) -> None:
        body = json.dumps({"type": job_type, "input_data": inputs})
        response = client.post("/api/streams/", body, content_type="application/json")
        assert response.status_code == 201, (inputs, response.content)

    check()


@pytest.mark.parametrize("job_type", sorted(FORMS))
def test_any_text_in_any_form_field_is_a_form_error_or_a_saved_job(
    user: User, job_type: str
) -> None:
    form_class = FORMS[job_type]
    fields = list(form_class().fields)

    @FUZZ
    @given(st.dictionaries(st.sampled_from(fields), st.text(max_size=300)))
    def check(data: dict[str, str]) -> None:
        form = form_class(data)
        if form.is_valid():
            pipeline = get_pipeline(job_type)
            job = job_create(pipeline=pipeline, user=user, input_data=form.input_data)
            assert job.pk
        else:
            assert form.errors

    check()


@FUZZ
@given(st.one_of(st.text(max_size=5000), st.binary(max_size=200).map(lambda b: (None, b))))
def test_any_frame_decodes_to_an_object_or_is_a_bad_frame(frame: Any) -> None:
    text, data = frame if isinstance(frame, tuple) else (frame, None)
    try:
        content = decode_frame(text, data)
    except BadFrame as exc:
        assert str(exc)
    else:
        assert isinstance(content, dict)
