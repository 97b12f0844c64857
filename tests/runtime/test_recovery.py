"""Recovery: the sweeper finds streams whose runner died and they resume from their
first incomplete stage (the real-process version is test_crash_subprocess.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from reports.client_report.pipeline import PIPELINE
from reports.models import (
    AttemptStatus,
    Stage,
    StageAttempt,
    StageStatus,
    StreamingJob,
    StreamStatus,
)
from reports.providers import PermanentError
from reports.providers.fake import FakeProvider, Script
from reports.runtime import runners
from reports.runtime.engine import run_stream
from reports.runtime.sweeper import sweep_stale_streams
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]


def run_over(stream_id: Any) -> bool:
    """Completed, and its runner has let go of the lease (the run is fully over)."""
    stream = StreamingJob.objects.get(pk=stream_id)
    return stream.status == StreamStatus.COMPLETED and stream.lease_owner == ""


def die_during(stream: Any, fake_provider: FakeProvider, key: str) -> None:
    """Leave ``stream`` as a runner killed while streaming stage ``key`` would: earlier
    stages completed, ``key`` running with partial text and an open attempt, the lease
    expired."""
    fake_provider.script(key, Script(error=PermanentError("stop here", kind="auth")))
    assert run_stream(stream.pk) == StreamStatus.FAILED
    stage = Stage.objects.get(stream=stream, key=key)
    Stage.objects.filter(pk=stage.pk).update(
        status=StageStatus.RUNNING, output="Half of the", error="", error_kind=""
    )
    StageAttempt.objects.create(stage=stage, number=stage.attempts + 1, model="fake-model")
    StreamingJob.objects.filter(pk=stream.pk).update(
        status=StreamStatus.RUNNING,
        error="",
        error_kind="",
        finished_at=None,
        lease_owner="host:123:dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    fake_provider.history.clear()


def test_sweeper_picks_only_streams_nobody_runs(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    now = timezone.now()
    expired, live, fresh, forgotten, finished = (make_stream(title=f"s{i}") for i in range(5))
    running = StreamingJob.objects.filter(status=StreamStatus.PENDING)
    running.filter(pk=expired.pk).update(
        status="running", lease_owner="dead", lease_expires_at=now - timedelta(seconds=1)
    )
    running.filter(pk=live.pk).update(
        status="running", lease_owner="alive", lease_expires_at=now + timedelta(seconds=30)
    )
    # ``fresh`` was enqueued a moment ago; ``forgotten`` long ago and never claimed.
    StreamingJob.objects.filter(pk=forgotten.pk).update(enqueued_at=now - timedelta(minutes=5))
    StreamingJob.objects.filter(pk=finished.pk).update(status=StreamStatus.COMPLETED)

    assert set(sweep_stale_streams(pending_grace=60)) == {expired.pk, forgotten.pk}
    # At start-up (grace 0) nothing in this process runs yet: fresh ones are taken too.
    assert set(sweep_stale_streams(pending_grace=0)) == {expired.pk, forgotten.pk, fresh.pk}


def test_a_lease_not_renewed_for_its_ttl_expires(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    from reports.runtime.leases import claim

    settings.LEASE_TTL_SECONDS = 0.3
    stream = make_stream()
    assert claim(stream.pk, "runner-that-dies")  # and never heartbeats
    assert sweep_stale_streams() == []

    wait_for(lambda: stream.pk in sweep_stale_streams(), timeout=3)


def test_swept_stream_resumes_from_its_first_incomplete_stage(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    stream = make_stream()
    die_during(stream, fake_provider, "outline")
    settings.STREAM_RUNNER = "embedded"  # the sweeper hands it to this process's runner

    assert sweep_stale_streams() == [stream.pk]

    wait_for(lambda: run_over(stream.pk), timeout=15)
    assert fake_provider.stage_keys == ["outline", "sections", "recommendations", "summary"]
    stream.refresh_from_db()
    assert stream.runs == 2 and stream.lease_owner == ""
    for key in ("brief", "context"):
        assert StageAttempt.objects.filter(stage__stream=stream, stage__key=key).count() == 1
    # The dead runner's open attempt is closed as interrupted, not left "running".
    outline_attempts = StageAttempt.objects.filter(stage__stream=stream, stage__key="outline")
    assert not outline_attempts.filter(status=AttemptStatus.RUNNING).exists()
    assert outline_attempts.filter(error_kind="interrupted").count() == 1
    assert outline_attempts.filter(status=AttemptStatus.SUCCEEDED).count() == 1


def test_a_stage_left_failed_by_a_dead_runner_runs_again(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    """The runner died between failing a stage and failing the stream: recovery must
    still finish the stream, never assemble a report with holes."""
    stream = make_stream()
    die_during(stream, fake_provider, "sections")
    Stage.objects.filter(stream=stream, key="sections").update(status=StageStatus.FAILED)

    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert fake_provider.stage_keys == ["sections", "recommendations", "summary"]


def test_a_healthy_lease_is_never_taken_over(make_stream: Any, fake_provider: FakeProvider) -> None:
    from reports.runtime.leases import claim

    stream = make_stream()
    assert claim(stream.pk, "alive")
    assert sweep_stale_streams(pending_grace=0) == []
    assert run_stream(stream.pk) is None
    assert fake_provider.history == []


def test_embedded_runner_ignores_a_stream_it_already_queued(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    """A sweep that re-enqueues a stream still waiting for a thread adds no twin run."""
    settings.STREAM_RUNNER = "embedded"
    stream = make_stream()
    runners.enqueue(stream.pk)
    runners.enqueue(stream.pk)

    wait_for(lambda: run_over(stream.pk))
    assert sorted(fake_provider.stage_keys) == sorted(MODEL_STAGES)


def test_a_shutdown_hands_running_streams_back_instead_of_cancelling_them(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    """What a server does on SIGTERM (runners.interrupt_for_shutdown): stop at once,
    leave the stream active with its lease released, so the next start resumes it."""
    import threading

    from reports.runtime.leases import keeper

    fake_provider.script("context", Script(text="word " * 4000, delay=0.05))
    stream = make_stream()
    result: list[str | None] = []
    thread = threading.Thread(target=lambda: result.append(run_stream(stream.pk)), daemon=True)
    thread.start()
    calls = wait_for(lambda: [c for c in fake_provider.calls_for("context") if c.stream])
    live = calls[0].stream
    assert live is not None
    wait_for(lambda: live.sent)

    assert keeper.interrupt_all() == 1
    thread.join(2.0)

    assert result == [StreamStatus.RUNNING] and live.closed.is_set()
    stream.refresh_from_db()
    assert (stream.status, stream.lease_owner, stream.lease_expires_at) == ("running", "", None)
    assert stream.cancel_reason == "" and stream.error == ""
    assert sweep_stale_streams() == [stream.pk]  # due at once, whoever sweeps next
    fake_provider.history.clear()
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert fake_provider.stage_keys == MODEL_STAGES[1:]
