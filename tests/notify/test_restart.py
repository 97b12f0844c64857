"""A real embedded-mode server is killed between two tries of a delivery and started
again: the new process finds the pending retry in the database and delivers it, with
the same delivery id and body, to a real receiver."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import ROOT, START_TIMEOUT, ServerProcess, migrated_database, server_env
from tests.conftest import REPORT_INPUT, wait_for
from tests.notify.receiver import running_receiver

pytestmark = pytest.mark.subprocess

SET_UP = """
import json, os
from django.contrib.auth.models import User
from reports.models import WebhookDelivery
from reports.notify.webhooks import webhook_create
from reports.runtime.engine import run_stream
from reports.streams.services import create_streaming_job
user = User.objects.create_user("hooked", password="hooked-password-42")
webhook_create(user=user, url=os.environ["HOOK_URL"], events=["stream.completed"])
input_data = json.loads(os.environ["INPUT"])
stream, _ = create_streaming_job(user=user, type="report", input_data=input_data)
print("RESULT", run_stream(stream.pk))
print("DELIVERY", WebhookDelivery.objects.get().pk.hex)
"""


def delivery_row(db: Path) -> tuple[Any, ...]:
    with sqlite3.connect(db, timeout=10) as conn:
        row = conn.execute(
            "SELECT status, attempts, last_status_code FROM reports_webhookdelivery"
        ).fetchone()
    return tuple(row)


def attempt_codes(db: Path) -> list[int | None]:
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute(
            "SELECT status_code FROM reports_deliveryattempt ORDER BY number"
        ).fetchall()
    return [code for (code,) in rows]


def test_a_restart_between_retries_still_delivers() -> None:
    with tempfile.TemporaryDirectory(prefix="reportsite-hooks-") as folder, \
            running_receiver(500) as receiver:
        db = Path(folder) / "db.sqlite3"
        env = server_env(
            db,
            WEBHOOK_ALLOW_PRIVATE="1",
            # Long enough for the kill to land between the failed try and the retry.
            WEBHOOK_BACKOFF_BASE_SECONDS="3",
            SWEEP_INTERVAL_SECONDS="0.5",
            OFFLINE_TOKENS_PER_SECOND="100000",
        )
        migrated_database(db)
        # The stream completes in a process that sends nothing (the manual runner): its
        # delivery is a pending row when the server first starts.
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SET_UP], cwd=ROOT, capture_output=True,
            text=True, timeout=120,
            env={**env, "STREAM_RUNNER": "manual", "HOOK_URL": receiver.url,
                 "INPUT": json.dumps(REPORT_INPUT)},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "RESULT completed" in done.stdout
        delivery_id = str(uuid.UUID(done.stdout.split("DELIVERY", 1)[1].split()[0]))
        assert delivery_row(db) == ("pending", 0, None)

        server = ServerProcess(env)
        server.start()
        try:
            wait_for(lambda: delivery_row(db)[1] == 1, timeout=START_TIMEOUT)
        except AssertionError:
            pytest.fail(f"the first server never tried the delivery\n{server.log()}")
        server.kill()  # mid-retry: the receiver said 500, the next try is 3 s away
        assert receiver.count() == 1
        assert delivery_row(db) == ("pending", 1, 500)

        server.start()  # the same database and port, a new process
        try:
            wait_for(lambda: delivery_row(db)[0] == "delivered", timeout=START_TIMEOUT)
        except AssertionError:
            pytest.fail(f"the restarted server never delivered\n{server.log()}")
        finally:
            server.stop()
        final, codes = delivery_row(db), attempt_codes(db)

    assert receiver.count() == 2
    assert [r.headers["X-Reportsite-Delivery"] for r in receiver.requests] == [delivery_id] * 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert final == ("delivered", 2, 200)
    assert codes == [500, 200]
