"""Nothing is overwritten: retries, forks and regenerations each add a version; forks
reuse the stages before their starting stage without asking the model again."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.client_report.pipeline import PIPELINE
from reports.models import Report, ReportJob, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams import services
from reports.streams.forks import fork_stream, plan_fork
from tests.conftest import csrf_form, post_json

pytestmark = pytest.mark.django_db

KEYS = [spec.key for spec in PIPELINE.stages]


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def frozen(report: Report) -> dict[str, Any]:
    return dict(Report.objects.filter(pk=report.pk).values().get())


@pytest.fixture
def completed(make_stream: Any, fake_provider: FakeProvider) -> StreamingJob:
    stream = make_stream(title="Retention plan")
    assert run_stream(stream.pk) == "completed"
    fake_provider.history.clear()
    return StreamingJob.objects.get(pk=stream.pk)




def test_a_fork_reuses_the_stages_before_it_and_adds_a_version(
    completed: StreamingJob, user: User, fake_provider: FakeProvider
) -> None:
    first = Report.objects.get(stream=completed)
    before = frozen(first)

    fork = fork_stream(
        stream_id=completed.pk, user=user, from_stage="outline",
        input_data={"title": "Churn plan"},
    )
    assert run_stream(fork.pk) == "completed"

    # Only the chosen stage and those after it went to the model.
    assert fake_provider.stage_keys == [k for k in KEYS[2:] if k != "assembly"]
    # The stages that read the edited input see it (the summary names the title).
    assert "Churn plan" in fake_provider.calls_for("summary")[0].request.prompt
    copied = {s.key: s for s in fork.stages.all()}
    originals = {s.key: s for s in completed.stages.all()}
    for key in ("brief", "context"):
        assert copied[key].source == "copied" and copied[key].output == originals[key].output
    # The earlier version is byte for byte what it was; the fork is version 2.
    assert frozen(first) == before
    second = Report.objects.get(stream=fork)
    assert (second.version, second.reason) == (2, "fork")
    assert second.changed_stages == KEYS[2:]
    assert ReportJob.objects.get(pk=completed.job_id).title == "Churn plan"
    assert second.title == "Churn plan" and first.title == "Retention plan"


def test_extra_instructions_reach_only_the_stages_that_run(
    completed: StreamingJob, user: User, fake_provider: FakeProvider
) -> None:
    fork = fork_stream(stream_id=completed.pk, user=user, from_stage="recommendations",
                       instructions="Write for a board audience.")
    run_stream(fork.pk)
    prompts = {call.request.stage_key: call.request.prompt for call in fake_provider.history}
    assert set(prompts) == {"recommendations", "summary"}
    assert all("Write for a board audience." in p for p in prompts.values())


def test_the_fork_plan_says_what_is_reused_and_what_runs(completed: StreamingJob) -> None:
    plan = plan_fork(completed, "sections")
    assert [s.key for s in plan.reused] == KEYS[:3]
    assert [s.key for s in plan.rerun] == KEYS[3:]
    stages = {s.key: s for s in completed.stages.all()}
    assert plan.tokens == sum(stages[k].tokens_in + stages[k].tokens_out for k in KEYS[3:])
    assert plan.tokens > 0
    assert plan.cost.label == "no price set"  # the fake model has no price: not "$0"
    offline = [s for s in completed.stages.all() if s.key in KEYS[3:]]
    for stage in offline:
        stage.model = "offline"
        stage.save(update_fields=["model"])
    assert plan_fork(completed, "sections").cost.label == "free (offline)"


def test_retry_then_regenerate_number_the_versions(
    completed: StreamingJob, user: User
) -> None:
    services.retry_stage(stream_id=completed.pk, key="summary", user=user)
    run_stream(completed.pk)
    stream, _ = services.create_streaming_job(job_id=completed.job_id, user=user, type="report")
    run_stream(stream.pk)
    versions = Report.objects.filter(job_id=completed.job_id).order_by("version")
    assert [(v.version, v.reason) for v in versions] == [
        (1, "generate"), (2, "retry"), (3, "regenerate")
    ]
    assert versions[1].changed_stages == ["summary", "assembly"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from_stage": "outline", "input_data": {"title": "   "}}, "title"),
        ({"from_stage": "outline", "input_data": {"size": "huge"}}, "size"),
        ({"from_stage": "outline", "input_data": {"colour": "red"}}, "colour"),
        ({"from_stage": "nope"}, "from_stage"),
        ({"from_stage": "outline", "instructions": "x" * 4001}, "instructions"),
        ({"from_stage": "outline", "instructions": "bad\x00"}, "instructions"),
    ],
)
def test_a_bad_fork_is_a_422_and_creates_nothing(
    completed: StreamingJob, api: Client, body: dict[str, Any], field: str
) -> None:
    job_before = ReportJob.objects.filter(pk=completed.job_id).values().get()
    response = post_json(api, f"/api/streams/{completed.pk}/fork/", body)
    assert response.status_code == 422, response.content
    assert response.json()["error"] == "invalid_input"
    assert [d["field"] for d in response.json()["details"]] == [field]
    assert StreamingJob.objects.count() == 1
    assert ReportJob.objects.filter(pk=completed.job_id).values().get() == job_before


def test_forking_while_the_job_generates_is_a_conflict(
    completed: StreamingJob, api: Client, user: User
) -> None:
    services.retry_stage(stream_id=completed.pk, key="summary", user=user)
    response = post_json(api, f"/api/streams/{completed.pk}/fork/", {"from_stage": "outline"})
    assert response.status_code == 409
    assert StreamingJob.objects.count() == 1


def test_the_versions_api_lists_newest_first(
    completed: StreamingJob, api: Client, user: User
) -> None:
    response = post_json(api, f"/api/streams/{completed.pk}/fork/",
                    {"from_stage": "summary", "instructions": "Shorter.",
                     "input_data": {"title": "Churn plan"}})
    assert response.status_code == 201, response.content
    fork_id = response.json()["stream_id"]
    assert response.json()["job_id"] == str(completed.job_id)
    run_stream(fork_id)

    versions = api.get(f"/api/jobs/{completed.job_id}/versions/").json()
    assert [(v["version"], v["reason"], v["stream_id"]) for v in versions] == [
        (2, "fork", fork_id), (1, "generate", str(completed.pk))
    ]
    assert {"report_id", "version", "created_at", "stream_id", "reason"} <= set(versions[0])
    assert versions[0]["created_by"] == user.username
    assert versions[0]["exports"]["pdf"] == f"/api/reports/{versions[0]['report_id']}/export/pdf/"

    diff = api.get(
        f"/api/reports/{versions[0]['report_id']}/versions/{versions[1]['report_id']}/diff/"
    ).json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert "<ins>" in diff["html"] or "<del>" in diff["html"]


def test_the_diff_is_sanitized(user: User, api: Client) -> None:
    old = Report.objects.create(owner=user, job_type="report", title="Old", markdown="Hello")
    new = Report.objects.create(
        owner=user, job_type="report", title="New",
        markdown='Hello <script>alert(1)</script> <img src=x onerror="alert(2)">',
    )
    html = api.get(f"/api/reports/{new.pk}/versions/{old.pk}/diff/").json()["html"]
    tags = Elements()
    tags.feed(html)
    assert {tag for tag, _ in tags.found} <= {"div", "p", "ins", "del"}
    assert {name for _, attrs in tags.found for name, _ in attrs} <= {"class"}
    assert "&lt;script&gt;alert(1)" in html  # shown as text


def test_another_user_gets_404_on_every_new_endpoint(
    completed: StreamingJob, other_user: User
) -> None:
    report = Report.objects.get(stream=completed)
    client = Client()
    client.force_login(other_user)
    urls = [
        f"/api/jobs/{completed.job_id}/versions/",
        f"/api/reports/{report.pk}/versions/{report.pk}/diff/",
        f"/api/reports/{report.pk}/export/md/",
        f"/api/streams/{completed.pk}/export/pdf/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"] == "not_found"
    response = post_json(client, f"/api/streams/{completed.pk}/fork/", {"from_stage": "outline"})
    assert response.status_code == 404
    assert StreamingJob.objects.count() == 1


def test_a_document_made_before_streaming_lists_renders_diffs_and_exports(
    user: User, api: Client
) -> None:
    legacy = Report.objects.create(owner=user, job_type="report", title="Legacy",
                                   markdown="# Legacy\n\nOld text.")
    other = Report.objects.create(owner=user, job_type="report", title="Legacy 2",
                                  markdown="# Legacy\n\nNew text.")
    page = api.get(legacy.get_absolute_url())
    assert page.status_code == 200 and b"Old text." in page.content
    assert api.get(f"/api/reports/{legacy.pk}/").json()["version"] == 1
    diff = api.get(f"/api/reports/{legacy.pk}/versions/{other.pk}/diff/").json()
    assert "Old" in diff["html"] and "New" in diff["html"]
    exported = api.get(f"/api/reports/{legacy.pk}/export/md/").content.decode()
    assert "Made before streaming" in exported


def test_the_fork_page_shows_the_plan_and_starts_the_fork(
    completed: StreamingJob, api: Client, fake_provider: FakeProvider
) -> None:
    page = api.get(f"/streams/{completed.pk}/fork/?from_stage=summary").content.decode()
    assert "Kept as they are (5)" in page and "Generated again (2)" in page
    plan = api.get(f"/streams/{completed.pk}/fork/plan/?from_stage=outline").content.decode()
    assert "Kept as they are (2)" in plan

    form = {**completed.input_data, "from_stage": "summary", "instructions": "Be brief.",
            "title": "   "}
    refused = api.post(f"/streams/{completed.pk}/fork/", csrf_form(api, form))
    assert refused.status_code == 200 and "This field is required." in refused.content.decode()
    assert StreamingJob.objects.count() == 1

    form["title"] = "Board summary"
    # Every kept stage read the old title (the brief): the page says so first.
    warned = api.post(f"/streams/{completed.pk}/fork/", csrf_form(api, form))
    assert warned.status_code == 200 and "would contradict itself" in warned.content.decode()
    form["keep_stale"] = "brief,context,outline,sections,recommendations"
    response = api.post(f"/streams/{completed.pk}/fork/", csrf_form(api, form))
    fork = StreamingJob.objects.exclude(pk=completed.pk).get()
    assert response.status_code == 302 and response["Location"] == fork.get_absolute_url()
    run_stream(fork.pk)
    assert fake_provider.stage_keys == ["summary"]
    panel = api.get(f"/jobs/{completed.job_id}/versions/").content.decode()
    assert "v2" in panel and "Forked" in panel and "What changed" in panel
    first, second = Report.objects.order_by("version")
    diff = api.get(f"/documents/{second.pk}/diff/{first.pk}/")
    assert diff.status_code == 200 and "<ins>" in diff.content.decode()


def test_the_versions_panel_prices_a_change_by_the_cards_rule(
    completed: StreamingJob, api: Client
) -> None:
    from reports.streams.costs import stream_cost

    card = stream_cost(completed, list(completed.stages.all())).label
    html = api.get(f"/jobs/{completed.job_id}/versions/").content.decode()
    assert "7 stages written" in html
    assert f"tokens · {card}" in html  # "free (offline)" where the card says so, not "$0"


def test_a_rerun_that_wrote_the_same_text_says_so(
    completed: StreamingJob, api: Client, fake_provider: Any
) -> None:
    """Issue 31, item 4: "5 stages changed" where the diff said the two versions are
    identical (a retried Outline wrote the same text)."""
    services.retry_stage(stream_id=completed.pk, key="outline", user=completed.owner)
    assert run_stream(completed.pk) == "completed"
    html = api.get(f"/jobs/{completed.job_id}/versions/").content.decode()
    newest = html.split("<li>")[1]
    assert "5 stages rerun" in newest and "changed" not in newest
    assert "Same text as v1" in newest and "What changed" not in newest
