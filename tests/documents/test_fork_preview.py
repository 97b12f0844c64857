"""A fork's dry run says what it reruns, what it keeps, which kept stages read an edited
input (stale) and what the rerun will cost, and creates nothing; the fork page warns
about stale stages before the click and offers to rerun from the first of them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.client_report.pipeline import PIPELINE
from reports.models import ReportJob, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams.forecast import forecast_rerun
from tests.conftest import csrf_form, post_json

pytestmark = pytest.mark.django_db

KEYS = [spec.key for spec in PIPELINE.stages]
FORECAST_STAGE = {"key", "tokens_in", "tokens_out", "cost_usd", "seconds"}


@pytest.fixture
def completed(make_stream: Any, fake_provider: FakeProvider) -> StreamingJob:
    stream = make_stream()
    assert run_stream(stream.pk) == "completed"
    return StreamingJob.objects.get(pk=stream.pk)


def dry_run(api: Client, stream: StreamingJob, **body: Any) -> Any:
    return post_json(api, f"/api/streams/{stream.pk}/fork/", {**body, "dry_run": True})


def test_a_dry_run_with_a_changed_client_says_the_kept_stages_are_stale(
    completed: StreamingJob, api: Client
) -> None:
    job_before = ReportJob.objects.filter(pk=completed.job_id).values().get()
    response = dry_run(api, completed, from_stage="sections",
                       input_data={"client": "Globex Corporation"})
    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["rerun"] == KEYS[3:] and preview["copied"] == KEYS[:3]
    # Every kept stage was written from the brief that named the old client.
    assert preview["stale"] == ["brief", "context", "outline"]
    forecast = preview["forecast"]
    assert [row["key"] for row in forecast["stages"]] == KEYS[3:]
    assert all(set(row) == FORECAST_STAGE for row in forecast["stages"])
    assert set(forecast) == {"stages", "cost_usd", "seconds", "basis"}
    assert forecast["basis"]["runs"] == 1  # the one completed run of each stage
    # Nothing was created or changed.
    assert StreamingJob.objects.count() == 1
    assert ReportJob.objects.filter(pk=completed.job_id).values().get() == job_before


def test_a_dry_run_without_edits_has_nothing_stale(completed: StreamingJob, api: Client) -> None:
    preview = dry_run(api, completed, from_stage="outline",
                      input_data={"client": "Acme Ltd"}).json()  # the same client
    assert preview["stale"] == [] and preview["copied"] == ["brief", "context"]


def test_the_forecast_uses_medians_of_history_else_prompt_sizes(
    make_stream: Any, fake_provider: FakeProvider, api: Client
) -> None:
    first = make_stream()
    fresh = forecast_rerun(first, KEYS)  # nothing has run yet
    # A generating stream cannot be forked, so its preview says so too.
    assert dry_run(api, first, from_stage="brief").json()["error"] == "conflict"
    assert fresh["basis"]["runs"] == 0
    by_key = {row["key"]: row for row in fresh["stages"]}
    assert by_key["sections"]["tokens_out"] == PIPELINE.stage("sections").max_tokens
    assert by_key["brief"]["tokens_in"] > 100  # the brief's prompt, rendered
    for stream in (first, make_stream(), make_stream()):
        run_stream(stream.pk)
    stages = first.stages.filter(key="summary")
    learned = dry_run(api, first, from_stage="summary").json()["forecast"]
    assert learned["basis"]["runs"] == 3
    assert learned["stages"][0]["tokens_out"] == stages.get().tokens_out  # same drafts


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"from_stage": "nope"}, 422, "invalid_input"),
        ({"from_stage": "outline", "input_data": {"client": ""}}, 422, "invalid_input"),
        ({"from_stage": "outline", "dry_run": "maybe"}, 422, "invalid_input"),
    ],
)
def test_a_bad_dry_run_is_a_4xx(
    completed: StreamingJob, api: Client, body: dict[str, Any], status: int, code: str
) -> None:
    response = post_json(api, f"/api/streams/{completed.pk}/fork/", {"dry_run": True, **body})
    assert response.status_code == status and response.json()["error"] == code
    assert StreamingJob.objects.count() == 1


def test_someone_elses_dry_run_is_a_404(completed: StreamingJob, other_user: User) -> None:
    client = Client()
    client.force_login(other_user)
    response = post_json(client, f"/api/streams/{completed.pk}/fork/",
                         {"from_stage": "outline", "dry_run": True})
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_a_dry_run_without_csrf_is_refused(completed: StreamingJob, user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(f"/api/streams/{completed.pk}/fork/",
                           {"from_stage": "outline", "dry_run": True},
                           content_type="application/json")
    assert response.status_code == 403 and response.json()["error"] == "csrf_failed"


def fork_form(stream: StreamingJob, **changes: str) -> dict[str, Any]:
    return {**stream.input_data, "from_stage": "sections", "instructions": "", **changes}


def test_the_fork_page_warns_before_keeping_stale_stages(
    completed: StreamingJob, api: Client
) -> None:
    url = f"/streams/{completed.pk}/fork/"
    # As the person edits the form, the plan says which kept stages read the change.
    plan = api.get(f"{url}plan/", fork_form(completed, client="Globex")).content.decode()
    assert "Rerun from Brief analysis" in plan and 'value="brief,context,outline"' in plan
    assert "Rerun from" not in api.get(f"{url}plan/", fork_form(completed)).content.decode()
    # Submitted without having seen the warning: the page shows it, nothing is made.
    page = api.post(url, csrf_form(api, fork_form(completed, client="Globex")))
    assert page.status_code == 200 and StreamingJob.objects.count() == 1
    html = page.content.decode()
    assert "would contradict itself" in html and "Rerun from Brief analysis" in html
    # The page as shown carries what was seen: the same click again keeps the stages.
    seen = re.search(r'name="keep_stale" value="([^"]*)"', html)
    assert seen is not None and seen.group(1) == "brief,context,outline"
    # The one-click rerun from the first stale stage.
    made = api.post(url, csrf_form(api, fork_form(completed, client="Globex",
                                                  rerun_from="brief")))
    assert made.status_code == 302
    fork = StreamingJob.objects.exclude(pk=completed.pk).get()
    assert fork.fork_stage == "brief" and not fork.stages.filter(source="copied").exists()


def test_the_fork_page_keeps_stale_stages_once_the_warning_was_seen(
    completed: StreamingJob, api: Client
) -> None:
    form = fork_form(completed, client="Globex", keep_stale="brief,context,outline")
    assert api.post(f"/streams/{completed.pk}/fork/", csrf_form(api, form)).status_code == 302
    fork = StreamingJob.objects.exclude(pk=completed.pk).get()
    assert sorted(fork.stages.filter(source="copied").values_list("key", flat=True)) == [
        "brief", "context", "outline"
    ]


def test_the_plan_says_when_a_rerun_replaces_an_edit_by_hand(
    completed: StreamingJob, api: Client, fake_provider: FakeProvider
) -> None:
    made = post_json(api, f"/api/streams/{completed.pk}/stages/outline/edit/",
                     {"data": {"sections": [{"title": "A", "purpose": "a"},
                                            {"title": "B", "purpose": "b"}]}}).json()
    run_stream(made["stream_id"])
    url = f"/streams/{made['stream_id']}/fork/plan/"
    form = {**completed.input_data, "instructions": ""}
    kept = api.get(url, {**form, "from_stage": "sections", "client": "Globex"}).content.decode()
    assert "It also writes again what you edited by hand: Outline" in kept
    rerun = api.get(url, {**form, "from_stage": "outline"}).content.decode()
    assert "replaces your edit" in rerun and "edited by hand" not in rerun
