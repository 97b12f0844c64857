"""A report with no stream behind it (made before streaming, or imported) works like any."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from reports.models import Report, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream

pytestmark = pytest.mark.django_db(transaction=True)

JOB_ID = "5ea1ed00-0000-4000-8000-000000000001"
REPORT_ID = "5ea1ed00-0000-4000-8000-000000000002"


@pytest.fixture
def owner() -> Client:
    call_command("loaddata", "legacy_report", verbosity=0)
    client = Client()
    client.force_login(User.objects.get(username="legacy-owner"))
    return client


def test_the_fixture_is_a_report_without_a_stream(owner: Client) -> None:
    report = Report.objects.get(pk=REPORT_ID)
    assert report.stream is None and report.job_type == "starmap"
    assert not StreamingJob.objects.exists()


def test_it_is_listed_on_the_cards_page_and_its_starmap(owner: Client) -> None:
    cards = owner.get("/starmap/").content.decode()
    assert "Onboarding starmap" in cards
    assert f"/documents/{REPORT_ID}/" in cards and "Regenerate" in cards
    page = owner.get(f"/starmap/{JOB_ID}/").content.decode()
    assert f"/documents/{REPORT_ID}/" in page and "(imported)" in page


def test_it_renders_sanitized(owner: Client) -> None:
    html = owner.get(f"/documents/{REPORT_ID}/").content.decode()
    assert '<h2 id="s-executive-summary">Executive summary</h2>' in html and "<table>" in html
    assert "imported" in html  # the page says it has no generation behind it
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html  # shown, inert
    assert 'href="javascript:' not in html


def test_it_downloads_as_markdown(owner: Client) -> None:
    response = owner.get(f"/documents/{REPORT_ID}/download.md")
    assert response.status_code == 200
    assert response.content.decode() == Report.objects.get(pk=REPORT_ID).markdown
    assert 'filename="Onboarding-starmap.md"' in response["Content-Disposition"]


def test_the_api_returns_it_with_no_stream(owner: Client) -> None:
    body = owner.get(f"/api/reports/{REPORT_ID}/").json()
    assert body["stream_id"] is None and body["job_id"] == JOB_ID
    assert "<h2>Learning objectives</h2>" in body["html"] and "<script>" not in body["html"]


def test_regenerating_keeps_it_as_an_earlier_version(
    owner: Client, fake_provider: FakeProvider
) -> None:
    owner.post(f"/starmap/{JOB_ID}/generate/")
    run_stream(StreamingJob.objects.get().pk)

    assert Report.objects.filter(job_id=JOB_ID).count() == 2
    new = Report.objects.exclude(pk=REPORT_ID).get()
    assert f"/documents/{REPORT_ID}/" in owner.get(new.get_absolute_url()).content.decode()


def test_other_users_cannot_see_it(owner: Client, other_user: User) -> None:
    client = Client()
    client.force_login(other_user)
    assert client.get(f"/documents/{REPORT_ID}/").status_code == 404
    assert client.get(f"/documents/{REPORT_ID}/download.md").status_code == 404
    assert "Onboarding starmap" not in client.get("/starmap/").content.decode()
