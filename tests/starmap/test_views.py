"""The cards page, the short create form, generate/regenerate and the starmap page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import Report, StreamingJob, StreamStatus
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from starmap.models import StarmapJob
from tests.starmap.conftest import STARMAP_INPUT

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_for() -> Any:
    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def form_data(**overrides: Any) -> dict[str, Any]:
    return {**STARMAP_INPUT, **overrides}


def test_cards_page_shows_only_the_users_starmaps_with_live_progress(
    client_for: Any, user: User, other_user: User, make_starmap: Any
) -> None:
    mine = make_starmap(title="Mine")
    theirs = make_starmap(owner=other_user, title="Theirs")

    response = client_for(user).get("/starmap/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Mine" in html and "Theirs" not in html
    assert f'id="stream-{mine.pk}-summary"' in html  # the live summary, updated by fragments
    assert f'data-live-stream="{mine.pk}"' in html
    # One socket for the page, with light (no stage list) snapshots.
    assert html.count('ws-connect="/ws/live/') == 1
    assert f'ws-connect="/ws/live/?details=0&amp;streams={mine.pk}"' in html
    assert str(theirs.pk) not in html
    assert 'role="progressbar"' in html and "Cancel" in html


def test_cards_page_needs_a_login(client: Client) -> None:
    response = client.get("/starmap/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_short_form_adds_a_card_via_htmx(client_for: Any, user: User) -> None:
    response = client_for(user).post("/starmap/new/", form_data(), **HTMX)

    html = response.content.decode()
    job = StarmapJob.objects.get()
    assert job.owner == user
    assert html.startswith(f'<article id="card-{job.pk}"')
    assert "Not generated yet" in html and ">Generate<" in html
    assert 'id="starmap-form"' in html and 'hx-swap-oob="true"' in html  # a fresh form
    assert not StreamingJob.objects.exists()


def test_create_and_generate_starts_the_stream_on_the_card(client_for: Any, user: User) -> None:
    response = client_for(user).post("/starmap/new/", form_data(generate="1"), **HTMX)

    stream = StreamingJob.objects.get()
    assert stream.type == "starmap" and stream.status == StreamStatus.PENDING
    assert f'data-live-stream="{stream.pk}"' in response.content.decode()


def test_invalid_form_comes_back_with_errors_in_place(client_for: Any, user: User) -> None:
    response = client_for(user).post(
        "/starmap/new/", form_data(title="   ", budget="-5", size="huge"), **HTMX
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#starmap-form" and response["HX-Reswap"] == "outerHTML"
    assert "This field is required." in html
    assert "Enter a positive amount." in html
    assert "Select a valid choice" in html
    assert not StarmapJob.objects.exists()


def test_form_works_without_javascript(client_for: Any, user: User) -> None:
    client = client_for(user)
    bad = client.post("/starmap/new/", form_data(organisation="x" * 201))
    assert bad.status_code == 200
    assert "Ensure this value has at most 200 characters" in bad.content.decode()

    good = client.post("/starmap/new/", form_data(budget="€ 12,500.50"))
    assert good.status_code == 302 and good["Location"] == "/starmap/"
    assert str(StarmapJob.objects.get().budget) == "12500.50"


def test_generate_swaps_the_card_and_is_idempotent_while_running(
    client_for: Any, user: User
) -> None:
    client = client_for(user)
    client.post("/starmap/new/", form_data(), **HTMX)
    job = StarmapJob.objects.get()

    first = client.post(f"/starmap/{job.pk}/generate/", **HTMX)
    second = client.post(f"/starmap/{job.pk}/generate/", **HTMX)

    stream = StreamingJob.objects.get()  # one active stream per job
    assert first.content.decode().startswith(f'<article id="card-{job.pk}"')
    assert f'id="stream-{stream.pk}"' in first.content.decode()
    assert f'id="stream-{stream.pk}"' in second.content.decode()


def test_another_users_starmap_is_not_found(
    client_for: Any, other_user: User, make_starmap: Any
) -> None:
    stream = make_starmap()
    client = client_for(other_user)
    assert client.get(f"/starmap/{stream.job_id}/").status_code == 404
    assert client.post(f"/starmap/{stream.job_id}/generate/", **HTMX).status_code == 404
    assert client.get("/starmap/not-a-uuid/").status_code == 404
    assert StreamingJob.objects.count() == 1


def test_regenerate_keeps_earlier_versions_reachable(
    client_for: Any, user: User, make_starmap: Any, fake_provider: FakeProvider
) -> None:
    first = make_starmap()
    run_stream(first.pk)
    client = client_for(user)
    response = client.post(f"/starmap/{first.job_id}/generate/")
    assert response.status_code == 302
    second = StreamingJob.objects.exclude(pk=first.pk).get()
    run_stream(second.pk)

    old, new = Report.objects.get(stream=first), Report.objects.get(stream=second)
    page = client.get(f"/starmap/{first.job_id}/").content.decode()
    assert old.get_absolute_url() in page and new.get_absolute_url() in page
    assert "Regenerate" in page
    assert "v2</strong> · Regenerated" in page  # the shared, live versions panel
    assert f"/streams/{second.pk}/fork/" in page and "Change and rerun" in page
    document = client.get(new.get_absolute_url()).content.decode()
    assert old.get_absolute_url() in document  # the versions bar links the earlier one
    assert client.get(old.get_absolute_url()).status_code == 200


def test_report_is_rendered_sanitized_with_sections_and_downloads(
    client_for: Any, user: User, make_starmap: Any, fake_provider: FakeProvider
) -> None:
    stream = make_starmap(organisation="<script>alert(1)</script>Evil Corp")
    run_stream(stream.pk)
    report = Report.objects.get(stream=stream)
    client = client_for(user)

    html = client.get(report.get_absolute_url()).content.decode()
    assert '<h2 id="s-executive-summary">Executive summary</h2>' in html and "<table>" in html
    assert "<script>alert(1)</script>" not in html
    download = client.get(f"/documents/{report.pk}/download.md")
    assert download["Content-Type"].startswith("text/markdown")
    assert download.content.decode() == report.markdown
    assert "attachment" in download["Content-Disposition"]


def test_starmap_page_shows_the_detailed_progress(
    client_for: Any, user: User, make_starmap: Any
) -> None:
    stream = make_starmap()
    html = client_for(user).get(f"/starmap/{stream.job_id}/").content.decode()
    assert f'id="stage-{stream.pk}-objectives"' in html  # show_details=True: every stage
    assert f'data-page-stream="{stream.pk}"' in html


def test_report_jobs_use_the_same_card_and_progress_tag(
    client_for: Any, user: User, make_stream: Any
) -> None:
    """The shared component: one card partial and one progress tag for every job type."""
    stream = make_stream()
    client = client_for(user)

    page = client.get("/").content.decode()
    assert f'<article id="card-{stream.job_id}" class="job-card card"' in page
    assert f'id="stream-{stream.pk}-summary"' in page and f"streams={stream.pk}" in page

    response = client.post(
        f"/reports/{stream.job_id}/generate/", HTTP_HX_TARGET=f"card-{stream.job_id}", **HTMX
    )
    assert response.content.decode().startswith(f'<article id="card-{stream.job_id}"')


def test_the_brief_shows_every_input_and_the_budget_as_the_document_writes_it(
    client_for: Any, user: User, make_starmap: Any
) -> None:
    stream = make_starmap()
    html = client_for(user).get(f"/starmap/{stream.job_id}/").content.decode()
    brief = html.split('class="card brief"', 1)[1].split("</dl>", 1)[0]
    assert "<dd>50,000 EUR</dd>" in brief
    assert "50000.00" not in brief
    for label, value in (
        ("Industry", "Healthcare"),
        ("Size", "1,000-4,999 people"),
        ("Constraints", "No overtime budget; shifts run 24/7."),
    ):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in brief
