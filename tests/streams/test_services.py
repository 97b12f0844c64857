from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.live.subscriptions import subscribe
from reports.models import Stage, StreamingJob, StreamStatus
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams import services


@pytest.mark.django_db
def test_create_snapshots_inputs_and_creates_every_stage(
    user: User, report_input: dict[str, str]
) -> None:
    stream, created = services.create_streaming_job(
        user=user, type="report", input_data=report_input
    )
    assert created
    assert stream.input_data["client"] == "Acme Ltd"
    assert stream.title == "Customer retention plan"
    assert list(stream.stages.values_list("key", flat=True)) == [
        "brief",
        "context",
        "outline",
        "sections",
        "recommendations",
        "summary",
        "assembly",
    ]
    assert Stage.objects.get(stream=stream, key="outline").depends_on == ["brief", "context"]


@pytest.mark.django_db
def test_generate_again_after_completion_makes_a_new_stream(make_stream: Any, user: User) -> None:
    stream = make_stream()
    StreamingJob.objects.filter(pk=stream.pk).update(status=StreamStatus.COMPLETED)
    again, created = services.create_streaming_job(job_id=stream.job_id, user=user, type="report")
    assert created and again.pk != stream.pk


@pytest.mark.django_db(transaction=True)
def test_subscribe_gets_the_snapshot_then_every_event_in_order(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    events: list[dict[str, Any]] = []
    finished = threading.Event()

    def collect(event: dict[str, Any]) -> None:
        events.append(event)
        if event["type"] == "stream.completed":
            finished.set()

    unsubscribe = subscribe(stream.pk, collect)
    try:
        run_stream(stream.pk)
        assert finished.wait(10)
    finally:
        unsubscribe()
    assert events[0]["type"] == "snapshot" and events[0]["stream"]["stream_id"] == str(stream.pk)
    seqs = [e["seq"] for e in events[1:]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert [e["type"] for e in events].count("stage.completed") == 7
