"""The stream admin: list, filters, search, repair actions, bounded query count."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reports.models import Report, Stage, StageStatus, StreamingJob, StreamStatus

CHANGELIST = reverse("admin:reports_streamingjob_changelist")


@pytest.fixture
def admin_client_for(db: None) -> Client:
    admin = User.objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client = Client()
    client.force_login(admin)
    return client


def fail_stream(stream: StreamingJob, failed_key: str = "outline") -> StreamingJob:
    """Make a stream look like it stopped on ``failed_key`` (earlier stages completed)."""
    position = stream.stages.get(key=failed_key).position
    now = timezone.now()
    stream.stages.filter(position__lt=position).update(
        status=StageStatus.COMPLETED, started_at=now, finished_at=now, output="done")
    stream.stages.filter(key=failed_key).update(
        status=StageStatus.FAILED, error_kind="invalid_output", error="bad JSON",
        started_at=now, finished_at=now, attempts=3)
    StreamingJob.objects.filter(pk=stream.pk).update(status=StreamStatus.FAILED, finished_at=now)
    stream.refresh_from_db()
    return stream


def act(client: Client, action: str, *streams: StreamingJob) -> str:
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(s.pk) for s in streams]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def statuses(stream: StreamingJob) -> dict[str, str]:
    return dict(stream.stages.values_list("key", "status"))


def test_list_shows_columns_links_and_filters(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    stream = fail_stream(make_stream())
    StreamingJob.objects.filter(pk=stream.pk).update(current_stage="outline", progress=42,
                                                     cost_usd="0.012345")
    stream.stages.filter(attempts__gt=0).update(cost_usd="0.004115")  # priced stages
    report = Report.objects.create(owner=stream.owner, job_type="report", job_id=stream.job_id,
                                   stream=stream, title="R", markdown="# R")
    html = admin_client_for.get(CHANGELIST).content.decode()
    for text in ("alice", "Failed", "42%", "outline", "$0.012", "has a failed stage",
                 stream.get_absolute_url(), report.get_absolute_url(), "Resume selected streams",
                 "Cancel selected streams", "Retry failed stages of selected streams"):
        assert text in html, text


def test_has_failed_stage_filter(admin_client_for: Client, make_stream: Callable[..., Any]) -> None:
    failed = fail_stream(make_stream())
    fine = make_stream(title="Another job")
    yes = admin_client_for.get(CHANGELIST, {"has_failed": "yes"})
    no = admin_client_for.get(CHANGELIST, {"has_failed": "no"})
    assert [s.pk for s in yes.context["cl"].result_list] == [failed.pk]
    assert [s.pk for s in no.context["cl"].result_list] == [fine.pk]


def test_search_by_stream_id_job_id_title_and_owner(
    admin_client_for: Client, make_stream: Callable[..., Any], other_user: User
) -> None:
    mine = make_stream(title="Quarterly churn")
    theirs = make_stream(owner=other_user, title="Pricing study")

    def found(term: str) -> list[uuid.UUID]:
        response = admin_client_for.get(CHANGELIST, {"q": term})
        return [s.pk for s in response.context["cl"].result_list]

    assert found(str(mine.pk)) == [mine.pk]
    assert found(str(theirs.job_id)) == [theirs.pk]
    assert found("churn") == [mine.pk]
    assert found("mallory") == [theirs.pk]


def test_change_page_shows_stages_read_only(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    stream = fail_stream(make_stream())
    Stage.objects.filter(stream=stream, key="brief").update(output="<script>x</script>" + "a" * 500)
    response = admin_client_for.get(reverse("admin:reports_streamingjob_change", args=[stream.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "bad JSON" in html and "invalid_output" in html
    assert stream.get_absolute_url() in html  # the live page, linked from the change page
    assert "&lt;script&gt;" in html and "<script>x" not in html  # output is text, escaped
    assert "a" * 400 not in html  # truncated
    assert 'name="stages-0-status"' not in html  # nothing editable


def test_resume_action_puts_failed_stages_back_to_pending(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    stream = fail_stream(make_stream())
    html = act(admin_client_for, "resume_streams", stream)
    stream.refresh_from_db()
    assert "Resumed 1 stream." in html
    assert stream.status == StreamStatus.PENDING
    assert statuses(stream)["brief"] == StageStatus.COMPLETED
    assert statuses(stream)["outline"] == StageStatus.PENDING


def test_cancel_action_cancels_a_stream_nobody_runs(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    stream = make_stream()
    html = act(admin_client_for, "cancel_streams", stream)
    stream.refresh_from_db()
    assert "Cancelled 1 stream." in html
    assert stream.status == StreamStatus.CANCELLED and stream.cancel_reason == "admin"


def test_retry_action_reruns_failed_stages_and_keeps_the_rest(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    stream = fail_stream(make_stream())
    html = act(admin_client_for, "retry_failed_stages", stream)
    stream.refresh_from_db()
    assert "Retried 1 stream." in html
    assert stream.status == StreamStatus.PENDING
    assert statuses(stream)["outline"] == StageStatus.PENDING
    assert statuses(stream)["context"] == StageStatus.COMPLETED
    assert stream.stages.get(key="outline").error == ""


def test_actions_report_what_they_could_not_do(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    done = make_stream(title="Finished job")
    StreamingJob.objects.filter(pk=done.pk).update(status=StreamStatus.COMPLETED)
    failed = fail_stream(make_stream(title="Broken job"))
    html = act(admin_client_for, "resume_streams", done, failed)
    assert "Resumed 1 stream." in html
    assert "Not resumed: Finished job: The stream is already completed." in html
    html = act(admin_client_for, "retry_failed_stages", done)
    assert "Not retried: Finished job: it has no failed stage." in html
    html = act(admin_client_for, "cancel_streams", done)
    assert "Not cancelled: Finished job: it is already completed." in html
    done.refresh_from_db()
    assert done.status == StreamStatus.COMPLETED


def bulk_streams(owners: list[User], count: int) -> None:
    streams = StreamingJob.objects.bulk_create(
        StreamingJob(type="report", job_id=uuid.uuid4(), owner=owners[i % len(owners)],
                     title=f"Job {i}", status=StreamStatus.FAILED if i % 3 else
                     StreamStatus.COMPLETED, started_at=timezone.now())
        for i in range(count)
    )
    Stage.objects.bulk_create(
        Stage(stream=s, key="brief", title="Brief", position=0,
              status=StageStatus.FAILED if i % 2 else StageStatus.COMPLETED)
        for i, s in enumerate(streams)
    )
    Report.objects.bulk_create(
        Report(owner=s.owner, job_type="report", job_id=s.job_id, stream=s, title=s.title,
               markdown="x")
        for s in streams[::3]
    )


@pytest.mark.parametrize("rows", [10, 1000])
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client_for: Client, user: User, other_user: User, rows: int,
    django_assert_max_num_queries: Any,
) -> None:
    bulk_streams([user, other_user], rows)
    with django_assert_max_num_queries(9):
        response = admin_client_for.get(CHANGELIST)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == min(rows, 50)
    with django_assert_max_num_queries(9):
        admin_client_for.get(CHANGELIST, {"has_failed": "yes", "q": "Job"})


def test_change_page_edits_nothing_and_writes_totals_the_one_way(
    admin_client_for: Client, make_stream: Callable[..., Any]
) -> None:
    """Issue 31, item 18: "Tokens cached" and "Cache saved usd" were editable inputs, and
    costs read "0.000000"."""
    stream = fail_stream(make_stream())
    StreamingJob.objects.filter(pk=stream.pk).update(tokens_in=12480, tokens_cached=512)
    url = reverse("admin:reports_streamingjob_change", args=[stream.pk])
    html = admin_client_for.get(url).content.decode()
    for name in ("tokens_cached", "cache_saved_usd", "instructions", "fork_stage",
                 "offline_model", "waiting_for_slot", "requested_by", "forked_from"):
        assert f'name="{name}"' not in html
    assert "12,480 in (512 cached)" in html
    assert "0.000000" not in html
    assert 'name="_save"' not in html
