"""Fair sharing end to end: user A queues 50 streams, user B's stream starts at once.

Real processes, embedded (Daphne's own runner threads) and distributed (a Celery
worker). Without the per-user quota A's 50 streams fill every runner thread and worker
slot and B waits behind them; with it A holds 3 slots, the other 47 wait without a
runner, and B starts while all 47 are still waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.distributed.conftest import Cluster, Proc, Web, check

# One cluster (database, Daphne, workers) per test session: every test that uses it
# runs on the same pytest-xdist worker.
pytestmark = [
    pytest.mark.services, pytest.mark.subprocess, pytest.mark.xdist_group("distributed"),
    # (The first test starts the cluster; a busy machine makes every start slower.)
    pytest.mark.timeout(300),
]

QUOTA = {"MAX_ACTIVE_STREAMS_PER_USER": "3", "STREAMS_PER_USER_PER_MINUTE": "0"}
# A's streams sit in their first stage for many seconds: nothing ends during the test.
SLOW = {"OFFLINE_FAULTS": "brief:slow:400"}


@pytest.fixture(scope="module")
def users(web: Web) -> list[str]:
    for name in ("amara", "bruno"):
        web.sign_up(name)
    return ["amara", "bruno"]


@pytest.fixture(params=["embedded", "distributed"])
def fair_site(
    request: pytest.FixtureRequest, cluster: Cluster, users: list[str]
) -> Iterator[Web]:
    procs: list[Proc] = []
    if request.param == "embedded":
        web = cluster.daphne(STREAM_RUNNER="embedded", EMBEDDED_RUNNER_THREADS="8",
                             **QUOTA, **SLOW)
    else:
        web = cluster.daphne(**QUOTA)
        procs.append(cluster.worker("fair", concurrency=8, **QUOTA, **SLOW))
    procs.append(web.proc)
    yield web
    for proc in procs:
        proc.stop()
    # Nobody else may pick A's queue up later (the sweeper of another test's cluster).
    cluster.execute(
        "UPDATE reports_streamingjob SET status = 'cancelled', waiting_for_slot = false "
        "WHERE status IN ('pending', 'running')"
    )


def signed_in(web: Web, username: str) -> Web:
    client = Web(web.proc, web.host)
    client.login(username)
    return client


def counts(cluster: Cluster, username: str) -> dict[str, int]:
    rows = cluster.query(
        "SELECT CASE WHEN s.waiting_for_slot THEN 'waiting' ELSE s.status END, count(*) "
        "FROM reports_streamingjob s JOIN auth_user u ON u.id = s.owner_id "
        "WHERE u.username = %s AND s.status IN ('pending', 'running') GROUP BY 1",
        [username],
    )
    return dict(rows)


def test_one_users_queue_never_delays_another_users_stream(
    cluster: Cluster, fair_site: Web
) -> None:
    site = fair_site
    amara, bruno = signed_in(site, "amara"), signed_in(site, "bruno")
    queued = [amara.create_stream(title=f"Amara {i}") for i in range(50)]
    check(lambda: counts(cluster, "amara").get("running") == 3, timeout=30)

    created = time.monotonic()
    theirs = bruno.create_stream(title="Bruno's")
    check(lambda: cluster.stream_row(theirs)["status"] == "running", timeout=30)
    started_after = time.monotonic() - created

    # B runs while every one of A's streams past the quota still waits for a slot.
    assert counts(cluster, "amara") == {"running": 3, "waiting": 47}
    assert amara.get(f"/api/streams/{queued[-1]}/").json()["queue_position"] == 47
    print(f"bruno's stream started {started_after:.2f} s after it was created")
