"""Resume, stage retry, cancel, idempotent Generate and racing runners."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connections, transaction
from django.test import Client
from django.utils import timezone

from reports.client_report.pipeline import PIPELINE
from reports.models import (
    AttemptStatus,
    Report,
    ReportJob,
    Stage,
    StageAttempt,
    StageStatus,
    StreamingJob,
    StreamStatus,
)
from reports.pipelines import graph
from reports.providers import PermanentError, TransientError
from reports.providers.fake import FakeProvider, FakeStream, Script
from reports.runtime.engine import run_stream
from reports.runtime.leases import claim
from reports.streams import services
from tests.conftest import REPORT_INPUT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]
LONG_TEXT = "word " * 4000  # ~25 s at the pace below: a cancel always lands mid-stream


def statuses(stream: StreamingJob) -> dict[str, str]:
    return dict(Stage.objects.filter(stream=stream).values_list("key", "status"))


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``target`` on its own thread (and DB connection); its result lands in the list."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(target())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def start_slow_stage(
    make_stream: Callable[..., Any], fake_provider: FakeProvider, key: str
) -> tuple[StreamingJob, FakeStream, threading.Thread, list[Any]]:
    """Run a stream whose ``key`` stage streams slowly; return once it has sent text."""
    fake_provider.script(key, Script(text=LONG_TEXT, delay=0.05))
    stream = make_stream()
    thread, result = in_thread(lambda: run_stream(stream.pk))

    def streaming() -> FakeStream | None:
        calls = fake_provider.calls_for(key)
        live = calls[0].stream if calls else None
        return live if live is not None and len(live.sent) > 40 else None

    live = wait_for(streaming, timeout=15)
    return stream, live, thread, result


# --- resume --------------------------------------------------------------------------


def test_resume_after_failure_never_calls_the_model_for_completed_stages(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    fake_provider.script("outline", Script(error=PermanentError("Bad key (401).", kind="auth")))
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.FAILED
    assert fake_provider.stage_keys == ["brief", "context", "outline"]
    kept = {
        s.key: s.output for s in Stage.objects.filter(stream=stream, key__in=["brief", "context"])
    }

    resumed = services.resume_job(stream_id=stream.pk, user=user)
    assert resumed.status == StreamStatus.PENDING
    assert statuses(stream)["brief"] == statuses(stream)["context"] == StageStatus.COMPLETED
    assert statuses(stream)["outline"] == StageStatus.PENDING
    fake_provider.history.clear()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert fake_provider.stage_keys == ["outline", "sections", "recommendations", "summary"]
    for key, output in kept.items():
        assert Stage.objects.get(stream=stream, key=key).output == output
    assert StageAttempt.objects.filter(stage__stream=stream, stage__key="brief").count() == 1
    stream.refresh_from_db()
    assert (stream.status, stream.error, stream.progress) == (StreamStatus.COMPLETED, "", 100)


def test_resume_after_an_interruption_continues_from_the_first_incomplete_stage(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    fake_provider.script("context", Script(error=PermanentError("stop", kind="auth")))
    run_stream(stream.pk)
    # Now make it look like a runner died while running ``context``.
    assert not claim(stream.pk, "dead-runner")  # failed streams cannot be claimed
    StreamingJob.objects.filter(pk=stream.pk).update(
        status=StreamStatus.RUNNING,
        lease_owner="dead-runner",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Stage.objects.filter(stream=stream, key="context").update(
        status=StageStatus.RUNNING, output="half a cont"
    )
    fake_provider.history.clear()

    services.resume_job(stream_id=stream.pk, user=user)
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert fake_provider.stage_keys == MODEL_STAGES[1:]


def test_resume_right_after_the_run_ended_does_not_wait_for_its_lease(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    """A click on Resume the moment a stream fails, before its runner let go of the lease."""
    fake_provider.script("brief", Script(error=PermanentError("Bad key.", kind="auth")))
    stream = make_stream()
    run_stream(stream.pk)
    StreamingJob.objects.filter(pk=stream.pk).update(
        lease_owner="finishing-runner", lease_expires_at=timezone.now() + timedelta(seconds=30)
    )

    resumed = services.resume_job(stream_id=stream.pk, user=user)

    assert (resumed.status, resumed.lease_owner) == (StreamStatus.PENDING, "")
    assert run_stream(stream.pk) == StreamStatus.COMPLETED


def test_resume_of_a_healthy_running_stream_is_a_no_op(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    assert claim(stream.pk, "live-runner")

    resumed = services.resume_job(stream_id=stream.pk, user=user)

    assert (resumed.status, resumed.lease_owner) == (StreamStatus.RUNNING, "live-runner")


def test_resume_of_a_completed_stream_is_refused(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    with pytest.raises(services.Conflict):
        services.resume_job(stream_id=stream.pk, user=user)


def test_only_the_owner_may_resume(
    make_stream: Any, fake_provider: FakeProvider, other_user: User
) -> None:
    stream = make_stream()
    with pytest.raises(services.NotFound):
        services.resume_job(stream_id=stream.pk, user=other_user)


# --- retry one stage ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "rerun"),
    [
        ("outline", ["outline", "sections", "recommendations", "summary"]),
        ("recommendations", ["recommendations", "summary"]),
        ("summary", ["summary"]),
    ],
)
def test_stage_retry_reruns_exactly_the_stage_and_its_dependants(
    make_stream: Any, fake_provider: FakeProvider, user: User, key: str, rerun: list[str]
) -> None:
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    before = {s.key: s.finished_at for s in Stage.objects.filter(stream=stream)}
    first = Report.objects.get(stream=stream)
    first_fields = Report.objects.filter(pk=first.pk).values().get()
    fake_provider.history.clear()

    services.retry_stage(stream_id=stream.pk, key=key, user=user)
    reset = {k for k, status in statuses(stream).items() if status == StageStatus.PENDING}
    assert reset == {key, *graph.downstream(PIPELINE, [key])}
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert fake_provider.stage_keys == rerun
    after = {s.key: s.finished_at for s in Stage.objects.filter(stream=stream)}
    untouched = set(before) - reset
    assert untouched and all(before[k] == after[k] for k in untouched)
    # A new version; the first one is left exactly as it was.
    versions = list(Report.objects.filter(stream=stream).order_by("version"))
    assert [(v.version, v.reason) for v in versions] == [(1, "generate"), (2, "retry")]
    assert Report.objects.filter(pk=first.pk).values().get() == first_fields
    assert set(versions[1].changed_stages) == reset
    assert versions[1].tokens_out > 0


def test_retry_of_a_failed_stage_runs_it_and_everything_after(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    fake_provider.script("sections", Script(error=PermanentError("nope", kind="bad_request")))
    stream = make_stream()
    assert run_stream(stream.pk) == StreamStatus.FAILED
    fake_provider.history.clear()

    services.retry_stage(stream_id=stream.pk, key="sections", user=user)
    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert fake_provider.stage_keys == ["sections", "recommendations", "summary"]
    sections = Stage.objects.get(stream=stream, key="sections")
    assert (sections.status, sections.error, sections.attempts) == ("completed", "", 2)


def test_stage_retry_is_refused_while_running_or_for_unknown_stages(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    with pytest.raises(services.Conflict, match="has not run yet"):
        services.retry_stage(stream_id=stream.pk, key="brief", user=user)
    assert claim(stream.pk, "live-runner")
    with pytest.raises(services.Conflict, match="running"):
        services.retry_stage(stream_id=stream.pk, key="brief", user=user)
    with pytest.raises(services.NotFound):
        services.retry_stage(stream_id=stream.pk, key="nope", user=user)


# --- cancel -------------------------------------------------------------------------


def test_cancel_closes_the_model_stream_at_once_and_keeps_partial_text(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream, live, thread, result = start_slow_stage(make_stream, fake_provider, "context")

    services.cancel_job(stream_id=stream.pk, user=user)
    # The runner is in this process: cancel_job closed its model stream itself, before
    # returning, not a heartbeat later.
    assert live.closed.is_set(), "cancel_job returned with the provider's stream open"
    thread.join(10)
    assert not thread.is_alive()
    assert result == [StreamStatus.CANCELLED]

    sent_at_close = len(live.sent)
    context = Stage.objects.get(stream=stream, key="context")
    assert context.status == StageStatus.CANCELLED
    assert context.output and live.sent.startswith(context.output)
    assert len(live.sent) < len(LONG_TEXT)  # it stopped streaming: no more tokens paid for
    attempt = StageAttempt.objects.get(stage=context)
    assert attempt.status == AttemptStatus.CANCELLED and attempt.tokens_out > 0
    stream.refresh_from_db()
    assert stream.status == StreamStatus.CANCELLED and stream.is_resumable
    assert (stream.cancel_reason, stream.error) == ("user", "")
    assert statuses(stream)["brief"] == StageStatus.COMPLETED
    assert statuses(stream)["outline"] == StageStatus.PENDING
    assert len(live.sent) == sent_at_close

    # ... and it can be resumed: the cancelled stage runs again, brief does not.
    fake_provider.history.clear()
    services.resume_job(stream_id=stream.pk, user=user)
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert fake_provider.stage_keys == MODEL_STAGES[1:]


def test_cancel_from_another_process_is_noticed_by_the_heartbeat(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LEASE_HEARTBEAT_SECONDS = 1.0  # the default: cancel must still land in 2 s
    stream, live, thread, result = start_slow_stage(make_stream, fake_provider, "brief")
    closed_by: list[str] = []
    close = live.close

    def recorded_close() -> None:
        closed_by.append(threading.current_thread().name)
        close()

    live.close = recorded_close  # type: ignore[method-assign]

    # What cancel_job does in a web process that does not run the stream.
    StreamingJob.objects.filter(pk=stream.pk).update(cancel_requested=True, cancel_reason="user")
    assert live.closed.wait(10)
    thread.join(10)
    assert not thread.is_alive()
    # The lease keeper's heartbeat read the flag and closed the model's stream.
    assert closed_by and closed_by[0] == "lease-keeper"
    assert result == [StreamStatus.CANCELLED]
    assert statuses(stream)["brief"] == StageStatus.CANCELLED


def test_cancel_during_a_retry_wait_stops_at_once(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    busy = TransientError("Rate limited (429).", kind="rate_limited", retry_after=60)
    fake_provider.script("brief", Script(error=busy))
    stream = make_stream()
    thread, result = in_thread(lambda: run_stream(stream.pk))
    wait_for(lambda: StageAttempt.objects.filter(stage__stream=stream, status="failed").exists())

    services.cancel_job(stream_id=stream.pk, user=user)
    # Retry-After asked for 60 s: only an interrupted wait ends within the deadline.
    thread.join(10)

    assert not thread.is_alive() and result == [StreamStatus.CANCELLED]
    assert len(fake_provider.calls_for("brief")) == 1  # the retry never happened
    assert statuses(stream)["brief"] == StageStatus.CANCELLED


def test_actions_over_the_api(make_stream: Any, fake_provider: FakeProvider, user: User) -> None:
    client = Client()
    client.force_login(user)
    stream = make_stream()
    base = f"/api/streams/{stream.pk}"

    retry = client.post(f"{base}/stages/brief/retry/")
    assert retry.status_code == 409 and retry.json()["error"] == "conflict"
    cancelled = client.post(f"{base}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    resumed = client.post(f"{base}/resume/")
    assert resumed.status_code == 200 and resumed.json()["status"] == "pending"
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    again = client.post(f"{base}/stages/summary/retry/")
    assert again.status_code == 200
    assert {s["key"]: s["status"] for s in again.json()["stages"]}["summary"] == "pending"
    assert client.post(f"{base}/resume/").status_code == 200  # pending: a no-op
    missing = client.post("/api/streams/not-a-uuid/cancel/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_cancel_of_a_stream_with_no_runner_is_immediate(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()

    cancelled = services.cancel_job(stream_id=stream.pk, user=user)

    assert cancelled.status == StreamStatus.CANCELLED and cancelled.finished_at is not None
    assert cancelled.is_resumable
    assert run_stream(stream.pk) is None  # nothing left to run
    assert fake_provider.history == []


def test_cancel_of_an_interrupted_stream_marks_its_running_stage_cancelled(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    StreamingJob.objects.filter(pk=stream.pk).update(
        status=StreamStatus.RUNNING,
        lease_owner="dead-runner",
        lease_expires_at=timezone.now() - timedelta(seconds=5),
    )
    Stage.objects.filter(stream=stream, key="brief").update(status=StageStatus.RUNNING, output="{")

    services.cancel_job(stream_id=stream.pk, user=user)

    brief = Stage.objects.get(stream=stream, key="brief")
    assert (brief.status, brief.output) == (StageStatus.CANCELLED, "{")
    stream.refresh_from_db()
    assert stream.status == StreamStatus.CANCELLED


def test_cancel_of_a_finished_stream_changes_nothing(
    make_stream: Any, fake_provider: FakeProvider, user: User
) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    assert services.cancel_job(stream_id=stream.pk, user=user).status == StreamStatus.COMPLETED


# --- one active stream per job ---------------------------------------------------------


def test_the_database_refuses_a_second_active_stream(make_stream: Any) -> None:
    stream = make_stream()
    with pytest.raises(IntegrityError), transaction.atomic():
        StreamingJob.objects.create(type="report", job_id=stream.job_id, owner=stream.owner)
    # A finished stream does not count: regenerate makes a new one.
    StreamingJob.objects.create(
        type="report", job_id=stream.job_id, owner=stream.owner, status=StreamStatus.COMPLETED
    )


def test_ten_concurrent_generates_give_one_active_stream(user: User) -> None:
    job = ReportJob.objects.create(owner=user, **REPORT_INPUT)
    barrier = threading.Barrier(10)
    results: list[tuple[Any, bool]] = []
    errors: list[BaseException] = []

    def generate() -> None:
        try:
            barrier.wait(5)
            results.append(services.create_streaming_job(job_id=job.pk, user=user, type="report"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=generate) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(results) == 10
    assert sum(created for _, created in results) == 1
    assert len({stream.pk for stream, _ in results}) == 1
    assert StreamingJob.objects.filter(job_id=job.pk).count() == 1
    assert Stage.objects.filter(stream__job_id=job.pk).count() == len(PIPELINE.stages)


def test_ten_concurrent_generate_requests_over_http_give_one_stream(user: User) -> None:
    job = ReportJob.objects.create(owner=user, **REPORT_INPUT)
    barrier = threading.Barrier(10)
    responses: list[tuple[int, str]] = []

    def post() -> None:
        client = Client()
        client.force_login(user)
        try:
            barrier.wait(5)
            response = client.post(
                "/api/streams/",
                {"type": "report", "job_id": str(job.pk)},
                content_type="application/json",
            )
            responses.append((response.status_code, response.json().get("stream_id", "")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    codes = sorted(code for code, _ in responses)
    assert codes == [200] * 9 + [201]
    assert len({stream_id for _, stream_id in responses}) == 1
    assert StreamingJob.objects.filter(job_id=job.pk).count() == 1


# --- racing runners ---------------------------------------------------------------------


def test_runners_racing_for_one_stream_run_it_exactly_once(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    barrier = threading.Barrier(4)
    outcomes: list[str | None] = []

    def race() -> None:
        try:
            barrier.wait(5)
            outcomes.append(run_stream(stream.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(outcomes) == 4
    assert outcomes.count(None) == 3 and StreamStatus.COMPLETED in outcomes
    assert fake_provider.stage_keys.count("brief") == 1
    assert sorted(fake_provider.stage_keys) == sorted(MODEL_STAGES)
    stream.refresh_from_db()
    assert stream.runs == 1


def test_a_runner_whose_lease_was_taken_over_stops(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream, live, thread, result = start_slow_stage(make_stream, fake_provider, "brief")

    # The lease expired (say the runner stalled) and another runner claimed it.
    StreamingJob.objects.filter(pk=stream.pk).update(lease_owner="another-runner")

    assert live.closed.wait(2.0)
    thread.join(2.0)
    assert result == [StreamStatus.RUNNING]  # it left the stream to its new owner
    stream.refresh_from_db()
    assert (stream.status, stream.lease_owner) == (StreamStatus.RUNNING, "another-runner")
