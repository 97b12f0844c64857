"""Distributed mode end to end: Daphne and Celery processes, Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.distributed.conftest import (
    Cluster,
    Proc,
    Web,
    check,
    wait_status,
    watch_stream,
)

# One cluster (database, Daphne, workers) per test session: every test that uses it
# runs on the same pytest-xdist worker.
pytestmark = [
    pytest.mark.services, pytest.mark.subprocess, pytest.mark.xdist_group("distributed"),
    # (The first test starts the cluster; a busy machine makes every start slower.)
    pytest.mark.timeout(300),
]

TERMINAL = "stream.completed"


def events_after_snapshot(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert messages[0]["type"] == "snapshot", messages[0]
    return [m for m in messages if m["type"] != "snapshot"]


def assert_in_seq_order(messages: list[dict[str, Any]]) -> None:
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs


async def test_stream_end_to_end_over_websocket(cluster: Cluster, web: Web, worker: Proc) -> None:
    stream_id = web.create_stream(title="End to end")
    messages = await watch_stream(web, stream_id)

    events = events_after_snapshot(messages)
    assert_in_seq_order(messages)
    assert events[-1]["type"] == TERMINAL
    assert any(e["type"] == "stage.delta" for e in events)
    assert cluster.stream_row(stream_id)["status"] == "completed"
    assert set(cluster.attempts(stream_id).values()) <= {0, 1}


async def test_a_threads_pool_worker_runs_streams_too(cluster: Cluster, web: Web) -> None:
    """gevent is the default pool (bench/results/); the threads pool stays supported."""
    proc = cluster.worker("threads", pool="threads", OFFLINE_FAULTS="brief:slow:10")
    try:
        stream_id = web.create_stream(title="Threads pool")
        messages = await watch_stream(web, stream_id)
        assert events_after_snapshot(messages)[-1]["type"] == TERMINAL
        assert cluster.stream_row(stream_id)["status"] == "completed"
    finally:
        proc.stop()


async def test_two_web_processes_deliver_the_same_events(
    cluster: Cluster, web: Web, worker: Proc
) -> None:
    other = cluster.daphne()
    other.login("olivia")
    # Slow enough for both watchers to be connected before the first stage ends.
    stream_id = web.create_stream(title="Two web processes")
    first, second = await asyncio.gather(
        watch_stream(web, stream_id), watch_stream(other, stream_id)
    )

    # Each watcher may have joined at a different seq: compare from the later snapshot.
    # The boundary events are the same; the text may come in other pieces (a process
    # that finds a gap in the deltas repairs it from the checkpoint, or sends a snapshot).
    start = max(first[0]["seq"], second[0]["seq"])
    tail = [[(m["seq"], m["type"], m.get("stage")) for m in events_after_snapshot(messages)
             if m["seq"] > start and m["type"] != "stage.delta"]
            for messages in (first, second)]
    assert tail[0] == tail[1]
    assert tail[0][-1][1] == TERMINAL
    for messages in (first, second):
        assert any(m["type"] == "stage.delta" and m["seq"] > start for m in messages)
    other.proc.stop()


def test_redelivered_task_never_runs_a_stream_twice(
    cluster: Cluster, web: Web, worker: Proc
) -> None:
    stream_id = web.create_stream(title="Redelivery")
    wait_for(lambda: cluster.stream_row(stream_id)["status"] == "running", timeout=60)
    # The same message again, twice, while the first copy runs (what the broker does
    # after visibility_timeout, or a producer retry), and once more after it finished.
    redelivered = cluster.send_run_task(stream_id)
    duplicate = cluster.send_run_task(stream_id, task_id=redelivered)
    wait_status(cluster, stream_id, "completed")
    late = cluster.send_run_task(stream_id)

    for task_id in {redelivered, duplicate, late}:
        check(lambda t=task_id: f"[{t}] succeeded" in worker.output())  # type: ignore[misc]
    assert worker.output().count(f"Task reports.tasks.run_stream[{redelivered}] received") == 2
    assert cluster.stream_row(stream_id)["runs"] == 1
    attempts = cluster.attempts(stream_id)
    assert attempts and max(attempts.values()) == 1, attempts


def wait_for_text_in(cluster: Cluster, stream_id: str, key: str) -> None:
    """Until stage ``key`` is running and some of its text is checkpointed."""

    def mid_stage() -> bool:
        rows = cluster.query(
            "SELECT status, length(output) FROM reports_stage "
            "WHERE stream_id = %s AND key = %s", [stream_id, key],
        )
        return bool(rows) and rows[0][0] == "running" and rows[0][1] > 0

    wait_for(mid_stage, timeout=60, interval=0.1)


def test_killed_worker_is_replaced_without_repeating_completed_stages(
    cluster: Cluster, web: Web
) -> None:
    # Worker A's model is slow on "sections", so it is killed in the middle of it.
    doomed = cluster.worker("doomed", OFFLINE_FAULTS="sections:slow:40")
    stream_id = web.create_stream(title="Killed worker")

    wait_for_text_in(cluster, stream_id, "sections")
    done_before = {k for k, s in cluster.stage_statuses(stream_id).items() if s == "completed"}
    attempts_before = cluster.attempts(stream_id)
    doomed.kill()
    assert {"brief", "context", "outline"} <= done_before

    # The replacement never saw the task: beat's sweeper finds the expired lease.
    beat = cluster.beat()
    rescuer = cluster.worker("rescuer", CELERY_VISIBILITY_TIMEOUT="2")
    try:
        wait_status(cluster, stream_id, "completed", timeout=60)
    finally:  # later tests choose their own workers
        rescuer.stop()
        beat.stop()

    attempts = cluster.attempts(stream_id)
    for key in done_before:
        assert attempts[key] == attempts_before[key] == 1, (key, attempts)
    assert attempts["sections"] == 2  # the interrupted call, then one more
    assert cluster.stream_row(stream_id)["runs"] == 2


def test_warm_shutdown_hands_streams_back_at_once(cluster: Cluster, web: Web) -> None:
    """SIGTERM (a deploy, an autoscaler) must not wait minutes for running streams: the
    worker stops them, releases their leases and exits; another worker resumes them."""
    leaving = cluster.worker("leaving", OFFLINE_FAULTS="sections:slow:40")
    stream_id = web.create_stream(title="Warm shutdown")

    wait_for_text_in(cluster, stream_id, "sections")
    done_before = {k for k, s in cluster.stage_statuses(stream_id).items() if s == "completed"}
    leaving.popen.send_signal(signal.SIGTERM)
    # "sections" alone has tens of seconds to go at this rate; the worker is gone in a few.
    assert leaving.popen.wait(timeout=15) == 0, leaving.output()
    assert "will resume" in leaving.output()
    # Still active (not failed or cancelled), so beat's sweeper hands it on.
    assert cluster.stream_row(stream_id)["status"] == "running"

    beat = cluster.beat()
    successor = cluster.worker("successor")
    try:
        wait_status(cluster, stream_id, "completed", timeout=60)
    finally:
        successor.stop()
        beat.stop()

    attempts = cluster.attempts(stream_id)
    for key in done_before:
        assert attempts[key] == 1, (key, attempts)
    sections = cluster.query(
        "SELECT a.status FROM reports_stageattempt a JOIN reports_stage s ON a.stage_id = s.id "
        "WHERE s.stream_id = %s AND s.key = 'sections' ORDER BY a.number", [stream_id],
    )
    assert [status for (status,) in sections] == ["cancelled", "succeeded"]
    assert cluster.stream_row(stream_id)["runs"] == 2


RACE = """
import json, threading
import django
django.setup()
from django.contrib.auth.models import User
from django.db import connections
from reports.streams import services
from reports.models import StreamingJobQuerySet

user = User.objects.get(username="olivia")
connections.close_all()  # the pool's eight connections are for the eight threads
start, checked = threading.Barrier(8), threading.Barrier(8)
results = []
first_look = StreamingJobQuerySet.first
seen = threading.local()

def look_then_wait(self):
    # Each thread's first look for an active stream finds none; all eight have looked
    # before any inserts, so they really race to the INSERT.
    found = first_look(self)
    if not getattr(seen, "looked", False):
        seen.looked = True
        checked.wait()
    return found

StreamingJobQuerySet.first = look_then_wait

def generate():
    start.wait()  # all eight check for an active stream at the same moment
    try:
        stream, created = services.create_streaming_job(
            job_id=JOB_ID, user=user, type="report"
        )
        results.append([str(stream.pk), created])
    finally:
        connections.close_all()

threads = [threading.Thread(target=generate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("RESULTS " + json.dumps(results))
"""


def test_simultaneous_generates_of_one_job_start_one_stream(cluster: Cluster, web: Web) -> None:
    """Eight Generate clicks for one job at the same instant, in eight threads with
    their own PostgreSQL connections, all past the "is one running?" check before any
    inserts: the partial unique index lets exactly one stream in, and every click gets
    that stream back."""
    first = web.create_stream(title="One at a time")
    job_id = web.get(f"/api/streams/{first}/").json()["job_id"]
    cluster.execute(  # the first generation is over: the next one may start
        "UPDATE reports_streamingjob SET status = 'completed' WHERE id = %s", [first]
    )
    # (a connection each: they all hold one while they wait for each other)
    race = cluster.start(
        "race", ["-c", RACE.replace("JOB_ID", repr(job_id))], DB_POOL_MAX_SIZE="8"
    )
    assert race.popen.wait(60) == 0, race.output()
    results = json.loads(race.output().split("RESULTS ", 1)[1])

    assert len(results) == 8, results
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert len({stream_id for stream_id, _ in results}) == 1
    rows = cluster.query(
        "SELECT count(*) FROM reports_streamingjob WHERE job_id = %s AND id <> %s",
        [job_id, first],
    )
    assert rows == [(1,)]
