"""A real server process is SIGKILLed in the middle of a stream and started again: the
stream completes without anyone clicking, and no completed stage is requested again.

Embedded mode (no REDIS_URL), the offline provider, its own SQLite file. The test
reads that file with the standard library, so it needs no Django database of its own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import START_TIMEOUT, free_port, migrated_database
from tests.conftest import REPORT_INPUT, wait_for

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

CREATE_STREAM = """
import json, os
from django.contrib.auth.models import User
from reports.streams.services import create_streaming_job
user = User.objects.create_user("crash-test", password="crash-test-password-1")
stream, _ = create_streaming_job(user=user, type="report",
                                 input_data=json.loads(os.environ["CRASH_INPUT"]))
print("STREAM", stream.pk.hex)
"""


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Site:
    """One embedded-mode site: a SQLite file, its environment and its server processes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db_path = folder / "db.sqlite3"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"REDIS_URL", "DATABASE_URL", "STREAM_RUNNER", "OFFLINE_FAULTS"}
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=f"sqlite:///{self.db_path}",
            LLM_PROVIDER="offline",
            # About 10 s for the whole report: the kill lands mid-stream.
            OFFLINE_TOKENS_PER_SECOND="80",
            LEASE_TTL_SECONDS="2",
            LEASE_HEARTBEAT_SECONDS="0.3",
            SWEEP_INTERVAL_SECONDS="0.5",
            CHECKPOINT_SECONDS="0.2",
            PYTHONUNBUFFERED="1",
        )
        self.servers: list[subprocess.Popen[bytes]] = []

    def manage(self, *args: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def start_server(self) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"server-{len(self.servers)}.log", "wb")  # noqa: SIM115
        port = free_port()
        server = subprocess.Popen(
            [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "reportsite.asgi:application",
            ],
            cwd=ROOT,
            env={**self.env, "STREAM_RUNNER": "embedded"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.servers.append(server)
        # The application (and its runner) starts before the server installs its
        # signal handlers; a SIGTERM before it listens would be a plain kill.
        try:
            wait_for(lambda: listening(port) or server.poll() is not None, timeout=START_TIMEOUT)
        except AssertionError:
            pytest.fail(f"the server never listened on {port}\n{self.logs()}")
        assert server.poll() is None, self.logs()
        return server

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.folder.glob("server-*.log"))
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def stream_status(self, stream_hex: str) -> str:
        rows = self.query("SELECT status FROM reports_streamingjob WHERE id = ?", stream_hex)
        return str(rows[0][0])

    def stages(self, stream_hex: str) -> dict[str, tuple[str, int]]:
        """key -> (status, number of attempt rows)."""
        rows = self.query(
            "SELECT s.key, s.status, COUNT(a.id) FROM reports_stage s"
            " LEFT JOIN reports_stageattempt a ON a.stage_id = s.id"
            " WHERE s.stream_id = ? GROUP BY s.id",
            stream_hex,
        )
        return {key: (status, count) for key, status, count in rows}

    def stop_all(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(5)


@pytest.fixture
def crash_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = Site(tmp_path_factory.mktemp("crash"))
    try:
        yield site
    finally:
        site.stop_all()


def test_a_killed_server_resumes_the_stream_on_restart(crash_site: Site) -> None:
    site = crash_site
    migrated_database(site.db_path)
    out = site.manage(
        "shell", "-c", CREATE_STREAM, STREAM_RUNNER="manual", CRASH_INPUT=json.dumps(REPORT_INPUT)
    )
    stream_hex = out.split("STREAM", 1)[1].split()[0]
    assert site.stream_status(stream_hex) == "pending"

    def completed() -> set[str]:
        return {k for k, (status, _) in site.stages(stream_hex).items() if status == "completed"}

    def wait_mid_stream(at_least: int, server: subprocess.Popen[bytes]) -> None:
        def mid_stream() -> bool:
            stages = site.stages(stream_hex)
            running = any(status == "running" for status, _ in stages.values())
            return len(completed()) >= at_least and running

        try:
            wait_for(mid_stream, timeout=40, interval=0.05)
        except AssertionError:
            pytest.fail(f"server {server.pid} never got mid-stream\n{site.logs()}")

    # 1. A graceful stop (SIGTERM, what a process manager sends) mid-stream: the server
    # exits at once instead of waiting for the stream, and hands the stream back.
    first = site.start_server()
    wait_mid_stream(1, first)
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(15)
    at_term = site.stages(stream_hex)
    stopped_gracefully = completed()
    assert all(count == 1 for k, (_, count) in at_term.items() if k in stopped_gracefully)
    status, lease_owner = site.query(
        "SELECT status, lease_owner FROM reports_streamingjob WHERE id = ?", stream_hex
    )[0]
    assert (status, lease_owner) == ("running", ""), site.logs()

    # 2. The next start resumes it without a click; then the process is killed outright.
    second = site.start_server()
    wait_mid_stream(len(stopped_gracefully) + 1, second)
    os.killpg(second.pid, signal.SIGKILL)
    second.wait(5)

    at_kill = site.stages(stream_hex)
    completed_before = completed()
    assert site.stream_status(stream_hex) == "running"  # the dead runner left it so
    assert stopped_gracefully < completed_before < set(at_kill)
    cut_off = site.query(
        "SELECT COUNT(*) FROM reports_stageattempt a JOIN reports_stage s ON a.stage_id = s.id"
        " WHERE s.stream_id = ? AND a.status = 'running'",
        stream_hex,
    )[0][0]
    # 3. Started again: it finds the expired lease and finishes the stream by itself.
    site.start_server()
    try:
        wait_for(lambda: site.stream_status(stream_hex) == "completed", timeout=45, interval=0.1)
    except AssertionError:
        pytest.fail(f"the stream did not complete after the restart\n{site.logs()}")

    final = site.stages(stream_hex)
    assert all(status == "completed" for status, _ in final.values()), final
    # No completed stage was sent to the model again: its attempts are those it had.
    for key in stopped_gracefully:
        assert final[key][1] == 1, f"{key} was requested again: {final}"
    for key in completed_before:
        assert final[key][1] == at_kill[key][1], f"{key} was requested again: {final}"
    runs, lease_owner = site.query(
        "SELECT runs, lease_owner FROM reports_streamingjob WHERE id = ?", stream_hex
    )[0]
    assert (runs, lease_owner) == (3, "")
    interrupted = site.query(
        "SELECT COUNT(*) FROM reports_stageattempt a JOIN reports_stage s ON a.stage_id = s.id"
        " WHERE s.stream_id = ? AND a.error_kind = 'interrupted'",
        stream_hex,
    )[0][0]
    assert interrupted == cut_off  # the attempts the kill cut off are on record as such
    report = site.query("SELECT markdown FROM reports_report WHERE stream_id = ?", stream_hex)
    assert report and report[0][0].startswith("# " + REPORT_INPUT["title"])
