"""The example page of the JavaScript client, and the docs page that shows it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "static/js/examples/progress-card.js"


def test_the_example_page_is_for_signed_in_users(client: Client, db: None) -> None:
    response = client.get("/dev/client/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_example_page_loads_its_script_as_a_module(client: Client, user: User) -> None:
    client.force_login(user)
    response = client.get("/dev/client/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/js/examples/progress-card.js">' in html
    assert "<script>" not in html  # the CSP refuses inline scripts


def test_the_docs_show_the_whole_example_and_it_is_short() -> None:
    example = EXAMPLE.read_text()
    assert len(example.splitlines()) < 60
    assert example.strip() in (ROOT / "docs/javascript-client.md").read_text()


def test_the_types_name_every_part_of_the_contract() -> None:
    types = (ROOT / "static/js/streaming-report.d.ts").read_text()
    for name in ("reportId", "streamId", "status", "progress", "stages", "report", "error",
                 "generateReport(", "resumeReport(", "cancelReport(", "refreshStatus(",
                 "watch(", "isGenerating(", "isCompleted(", "isFailed(", "getStageStatus(",
                 "getStageData(", "onProgress", "onStageComplete", "onComplete", "onError",
                 "token?", "createStreamingReport("):
        assert name in types, name
