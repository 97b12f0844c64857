"""Fair sharing: a user's streams beyond MAX_ACTIVE_STREAMS_PER_USER wait their turn,
take no runner, and never delay another user's streams."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import StreamingJob
from reports.runtime import leases
from reports.runtime.engine import run_stream
from reports.runtime.runners import base as runners
from reports.runtime.sweeper import sweep_stale_streams
from reports.streams import services
from reports.streams.selectors import stream_snapshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[str]:
    """What was handed to a runner (the manual runner runs nothing by itself)."""
    settings.MAX_ACTIVE_STREAMS_PER_USER = 2
    handed: list[str] = []
    monkeypatch.setattr(runners.ManualRunner, "enqueue", lambda self, sid: handed.append(str(sid)))
    return handed


def waiting_flags(streams: list[StreamingJob]) -> list[bool]:
    return [StreamingJob.objects.get(pk=s.pk).waiting_for_slot for s in streams]


def positions(streams: list[StreamingJob]) -> list[int | None]:
    return [stream_snapshot(StreamingJob.objects.get(pk=s.pk))["queue_position"] for s in streams]


def test_streams_over_the_quota_wait_with_their_place(
    make_stream: Any, enqueued: list[str]
) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(4)]
    assert waiting_flags(streams) == [False, False, True, True]
    assert enqueued == [str(streams[0].pk), str(streams[1].pk)]
    assert positions(streams) == [None, None, 1, 2]


def test_another_user_is_never_queued_behind(
    make_stream: Any, other_user: User, enqueued: list[str]
) -> None:
    for i in range(6):
        make_stream(title=f"Mine {i}")
    theirs = make_stream(owner=other_user, title="Theirs")
    assert not StreamingJob.objects.get(pk=theirs.pk).waiting_for_slot
    assert enqueued[-1] == str(theirs.pk)


def test_a_waiting_stream_cannot_be_claimed(make_stream: Any, enqueued: list[str]) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(3)]
    assert not leases.claim(streams[2].pk, "someone")
    assert run_stream(streams[2].pk) is None
    assert StreamingJob.objects.get(pk=streams[2].pk).status == "pending"


def test_an_ending_lets_the_next_one_in(
    make_stream: Any, enqueued: list[str], fake_provider: Any
) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(4)]
    assert run_stream(streams[0].pk) == "completed"
    assert waiting_flags(streams) == [False, False, False, True]
    assert enqueued[-1] == str(streams[2].pk)
    assert positions(streams)[3] == 1


def test_a_cancel_lets_the_next_one_in(
    make_stream: Any, user: User, enqueued: list[str]
) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(3)]
    services.cancel_job(stream_id=streams[1].pk, user=user)
    assert waiting_flags(streams) == [False, False, False]
    assert enqueued[-1] == str(streams[2].pk)


def test_cancelling_a_waiting_stream_takes_it_out_of_the_queue(
    make_stream: Any, user: User, enqueued: list[str]
) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(4)]
    services.cancel_job(stream_id=streams[2].pk, user=user)
    assert StreamingJob.objects.get(pk=streams[2].pk).status == "cancelled"
    assert positions(streams)[3] == 1


def test_resume_goes_through_the_queue_too(
    make_stream: Any, user: User, enqueued: list[str]
) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(2)]
    services.cancel_job(stream_id=streams[0].pk, user=user)
    make_stream(title="Third")  # takes the slot the cancel freed
    resumed = services.resume_job(stream_id=streams[0].pk, user=user)
    assert resumed.waiting_for_slot
    assert stream_snapshot(resumed)["queue_position"] == 1


def test_the_sweeper_admits_into_slots_an_ending_left_free(
    make_stream: Any, enqueued: list[str]
) -> None:
    streams = [make_stream(title=f"Report {i}") for i in range(3)]
    # An ending whose admission never ran (its process died right after the commit).
    StreamingJob.objects.filter(pk=streams[0].pk).update(status="completed")
    assert sweep_stale_streams() == [streams[2].pk]
    assert waiting_flags(streams)[2] is False


def test_no_quota_admits_everything(make_stream: Any, enqueued: list[str], settings: Any) -> None:
    settings.MAX_ACTIVE_STREAMS_PER_USER = 0
    streams = [make_stream(title=f"Report {i}") for i in range(5)]
    assert waiting_flags(streams) == [False] * 5


def test_the_card_says_how_many_are_ahead(
    make_stream: Any, user: User, enqueued: list[str]
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from reports.models import Stage
    from reports.streams import eta

    eta.clear_history_cache()  # (another test of this process may have filled it)
    streams = [make_stream(title=f"Report {i}") for i in range(5)]
    client = Client()
    client.force_login(user)
    page = client.get(streams[4].get_absolute_url()).content.decode()
    assert "Queued: 2 ahead" in page
    assert "estimating…" in page  # nothing to estimate from yet (issue 31)
    # One finished stage of the model is history: an estimate, which does not count down
    # while the stream waits.
    first = streams[0]
    brief = Stage.objects.get(stream=first, key="brief")
    model = eta.predicted_model(first, brief, list(first.stages.all()))
    now = timezone.now()
    Stage.objects.filter(pk=brief.pk).update(
        status="completed", model=model, started_at=now - timedelta(seconds=2), finished_at=now
    )
    eta.clear_history_cache()
    page = client.get(streams[4].get_absolute_url()).content.decode()
    assert "once it starts" in page
    assert "Queued: next in line" in client.get(streams[2].get_absolute_url()).content.decode()
