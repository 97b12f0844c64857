"""Edits after the end: a person replaces one stage's output; only the stages that
depend on it run again, in a new stream of the job, and a version with reason ``edit``
is added. The dry run says what will run and what it will cost, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.client_report.pipeline import PIPELINE
from reports.models import Report, Stage, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import post_json

pytestmark = pytest.mark.django_db

KEYS = [spec.key for spec in PIPELINE.stages]
NEW_SECTIONS = "## Onboarding first\n\nWe rewrote this by hand: onboarding is where churn starts."
OUTLINE = {"sections": [
    {"title": "Where churn starts", "purpose": "Which customers leave, and when."},
    {"title": "What to fix first", "purpose": "Which change moves churn most."},
]}


@pytest.fixture
def completed(make_stream: Any, fake_provider: FakeProvider) -> StreamingJob:
    stream = make_stream()
    assert run_stream(stream.pk) == "completed"
    fake_provider.history.clear()
    return StreamingJob.objects.get(pk=stream.pk)


def edit(client: Client, stream: StreamingJob, key: str, **body: Any) -> Any:
    return post_json(client, f"/api/streams/{stream.pk}/stages/{key}/edit/", body)


def test_editing_the_sections_reruns_only_the_stages_that_read_them(
    completed: StreamingJob, api: Client, fake_provider: FakeProvider
) -> None:
    first = Report.objects.get(stream=completed)
    response = edit(api, completed, "sections", text=NEW_SECTIONS)
    assert response.status_code == 201, response.content
    snapshot = response.json()
    assert snapshot["stream_id"] != str(completed.pk) and snapshot["job_id"] == str(
        completed.job_id)
    sources = {s["key"]: s["source"] for s in snapshot["stages"]}
    assert sources == {"brief": "copied", "context": "copied", "outline": "copied",
                       "sections": "edited", "recommendations": "model", "summary": "model",
                       "assembly": "model"}
    assert run_stream(snapshot["stream_id"]) == "completed"
    # Exactly the dependents went to the model, and they read the person's text.
    assert fake_provider.stage_keys == ["recommendations", "summary"]
    assert NEW_SECTIONS in fake_provider.calls_for("recommendations")[0].request.prompt
    second = Report.objects.get(stream_id=snapshot["stream_id"])
    assert (second.version, second.reason) == (2, "edit")
    assert NEW_SECTIONS in second.markdown and NEW_SECTIONS not in first.markdown
    assert second.changed_stages == ["sections", "recommendations", "summary", "assembly"]
    edited = {e["key"]: e for e in second.provenance}["sections"]
    assert edited["source"] == "edited" and edited["model"] == ""
    versions = api.get(f"/api/jobs/{completed.job_id}/versions/").json()
    assert [v["reason"] for v in versions] == ["edit", "generate"]
    exported = api.get(f"/api/reports/{second.pk}/export/md/").content.decode()
    assert [line.split(" | ")[0] for line in exported.splitlines()
            if "(edited by hand)" in line] == ["| Section drafts"]


def test_a_json_stage_takes_data_that_fits_its_schema(
    completed: StreamingJob, api: Client, fake_provider: FakeProvider
) -> None:
    response = edit(api, completed, "outline", data=OUTLINE)
    assert response.status_code == 201, response.content
    fork = StreamingJob.objects.get(pk=response.json()["stream_id"])
    outline = fork.stages.get(key="outline")
    assert outline.data == OUTLINE["sections"] and outline.source == "edited"
    run_stream(fork.pk)
    assert fake_provider.stage_keys == ["sections", "recommendations", "summary"]
    assert "Where churn starts" in fake_provider.calls_for("sections")[0].request.prompt


def test_a_dry_run_says_what_runs_and_changes_nothing(
    completed: StreamingJob, api: Client
) -> None:
    response = edit(api, completed, "context", text="New context.", dry_run=True)
    assert response.status_code == 200, response.content
    preview = response.json()
    assert preview["rerun"] == ["outline", "sections", "recommendations", "summary", "assembly"]
    assert preview["copied"] == ["brief"]
    assert [row["key"] for row in preview["forecast"]["stages"]] == preview["rerun"]
    assert preview["forecast"]["basis"]["runs"] == 1
    assert StreamingJob.objects.count() == 1 and Report.objects.count() == 1



@pytest.mark.parametrize(
    ("key", "body", "field"),
    [
        ("outline", {"data": {"sections": [{"title": "Only one", "purpose": "x"}]}},
         "data.sections"),
        ("outline", {"data": {"sections": [{"title": "", "purpose": "x"}] * 2}},
         "data.sections.0.title"),
        ("outline", {"text": "no data"}, "data"),
        ("outline", {"data": "a string"}, "data"),
        ("sections", {"text": "   "}, "text"),
        ("sections", {"text": "bad\x00"}, "text"),
        ("sections", {"data": {"a": 1}}, "text"),
        ("sections", {}, "text"),
        ("assembly", {"text": "My own document"}, "key"),
    ],
)
def test_a_bad_edit_is_a_422_with_the_errors_and_changes_nothing(
    completed: StreamingJob, api: Client, key: str, body: dict[str, Any], field: str
) -> None:
    for dry_run in (True, False):
        response = edit(api, completed, key, **body, dry_run=dry_run)
        assert response.status_code == 422, response.content
        assert response.json()["error"] == "invalid_input"
        assert field in [d["field"] for d in response.json()["details"]]
    assert StreamingJob.objects.count() == 1


def test_an_unknown_stage_or_someone_elses_stream_is_a_404(
    completed: StreamingJob, api: Client, other_user: User
) -> None:
    assert edit(api, completed, "nope", text="x").status_code == 404
    client = Client()
    client.force_login(other_user)
    response = edit(client, completed, "sections", text="x")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert StreamingJob.objects.count() == 1


def test_staff_may_edit_anyones_stream(completed: StreamingJob, staff_user: User) -> None:
    client = Client()
    client.force_login(staff_user)
    assert edit(client, completed, "summary", text="Short.").status_code == 201


def test_an_edit_without_csrf_is_refused(completed: StreamingJob, user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(f"/api/streams/{completed.pk}/stages/summary/edit/",
                           {"text": "x"}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"] == "csrf_failed"


def test_a_generating_stream_cannot_be_edited(make_stream: Any, api: Client) -> None:
    stream = make_stream()
    response = edit(api, stream, "summary", text="x")
    assert response.status_code == 409 and response.json()["error"] == "conflict"


def test_a_failed_stage_can_be_replaced_by_hand(
    completed: StreamingJob, api: Client, user: User, fake_provider: FakeProvider
) -> None:
    Stage.objects.filter(stream=completed, key__in=["summary", "assembly"]).update(
        status="failed")
    StreamingJob.objects.filter(pk=completed.pk).update(status="failed")
    response = edit(api, completed, "summary", text="The summary, by hand.")
    assert response.status_code == 201
    run_stream(response.json()["stream_id"])
    assert fake_provider.stage_keys == []  # only the assembly ran, without a model


@pytest.mark.django_db(transaction=True)  # its side-by-side stages run on threads
def test_side_by_side_stages_that_do_not_read_the_edit_are_kept(
    user: User, api: Client, fake_provider: FakeProvider
) -> None:
    from reports.streams.services import create_streaming_job
    from tests.starmap.conftest import STARMAP_INPUT

    stream, _ = create_streaming_job(user=user, type="starmap", input_data=STARMAP_INPUT)
    assert run_stream(stream.pk) == "completed"
    fake_provider.history.clear()
    response = edit(api, stream, "learners", text="### Front desk\n\nNew to the booking system.")
    run_stream(response.json()["stream_id"])
    # The gaps and the organisation do not read the learners' profiles: kept.
    assert sorted(fake_provider.stage_keys) == sorted(
        ["objectives", "modalities", "measurement", "timeline", "risks", "summary"]
    )
    fork = StreamingJob.objects.get(pk=response.json()["stream_id"])
    assert dict(fork.stages.values_list("key", "source"))["gaps"] == "copied"


def test_an_older_stream_cannot_be_edited_while_the_job_generates(
    completed: StreamingJob, api: Client, user: User
) -> None:
    from reports.streams.services import create_streaming_job

    create_streaming_job(job_id=completed.job_id, user=user, type="report")  # regenerate
    for dry_run in (True, False):
        response = edit(api, completed, "summary", text="x", dry_run=dry_run)
        assert response.status_code == 409 and response.json()["error"] == "conflict"
    assert StreamingJob.objects.count() == 2
