"""Forms show their limits (from the input schema, the one definition) and examples, and
say clearly when text is too long instead of letting the browser cut it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from reports.client_report.forms import ReportJobForm
from reports.client_report.pipeline import ReportInput
from reports.web.forms import max_length
from starmap.forms import StarmapJobForm

pytestmark = pytest.mark.django_db


def test_the_limits_line_names_every_limited_field_with_the_schema_s_limit() -> None:
    text = ReportJobForm().limits_text
    assert text.startswith("Limits: title 200 characters, ")
    for name, info in ReportInput.model_fields.items():
        label = str(ReportJobForm()[name].label).lower()
        assert f"{label} {max_length(info):,}" in text, name
    assert "client / organisation 200" in text and "audience 300" in text
    assert "industry" in StarmapJobForm().limits_text


def test_the_new_report_page_has_examples_counters_and_no_silent_maxlength(
    client: Client, user: Any
) -> None:
    client.force_login(user)
    html = client.get("/reports/new/").content.decode()
    assert 'placeholder="e.g. Customer retention plan"' in html
    assert 'data-maxlength="200"' in html and " maxlength=" not in html
    assert 'id="id_title-counter">0 / 200<' in html
    assert 'aria-describedby="id_title-counter"' in html
    assert "audience 300" in html and "client / organisation 200" in html


def test_too_long_text_is_a_clear_form_error(client: Client, user: Any) -> None:
    client.force_login(user)
    response = client.post(
        "/reports/new/", {"title": "t" * 250, "client": "Acme", "objective": "Plan."}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ensure this value has at most 200 characters (it has 250)." in html
    assert 'id="id_title-counter">250 / 200<' in html
