"""Real processes against the machine's Redis and PostgreSQL.

Each test session gets its own PostgreSQL database (``rs_test_<random>``), its own
channel-layer prefix and its own Celery queue, so parallel runs never cross-talk.
Processes (Daphne, Celery workers, beat) are started with the same environment an
operator would set: ``REDIS_URL``, ``DATABASE_URL``, ``LLM_PROVIDER=offline``.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from devtools.servers import START_TIMEOUT, free_port
from tests.conftest import REPORT_INPUT, require_service, wait_for

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "correct-horse-battery-staple"


@dataclass
class Proc:
    """A child process with its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a machine dies."""
        if self.alive():
            self.popen.kill()
        self.popen.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


@dataclass
class Cluster:
    """One test session's services, environment and processes."""

    env: dict[str, str]
    tmp: Path
    database: str
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, args: list[str], **env: str) -> Proc:
        log = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**self.env, **env},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def daphne(self, **env: str) -> Web:
        port = free_port()
        proc = self.start(
            "daphne", ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                       "reportsite.asgi:application"], **env,
        )
        web = Web(proc, f"127.0.0.1:{port}")

        def healthy() -> bool:
            assert proc.alive(), proc.output()
            try:
                return web.get("/healthz").status == 200
            except OSError:
                return False

        wait_for(healthy, timeout=START_TIMEOUT, interval=0.1)
        return web

    def worker(
        self, name: str, *, concurrency: int = 8, pool: str = "gevent", **env: str
    ) -> Proc:
        proc = self.start(
            name,
            ["-m", "celery", "-A", "reportsite", "worker", "--pool", pool,
             "-c", str(concurrency), "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h",
             "--without-mingle", "--without-gossip", "--loglevel", "INFO"],
            **env,
        )
        wait_for(lambda: _alive_and(proc, " ready."), timeout=START_TIMEOUT, interval=0.1)
        return proc

    def beat(self) -> Proc:
        schedule = self.tmp / f"beat-{uuid.uuid4().hex[:6]}"
        return self.start(
            "beat", ["-m", "celery", "-A", "reportsite", "beat", "--loglevel", "INFO",
                     "--schedule", str(schedule)],
        )

    def manage(self, *args: str, **env: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, **env},
            check=True, capture_output=True, timeout=60,
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        with psycopg.connect(self.env["DATABASE_URL"], autocommit=True) as conn:
            conn.execute(sql, params or [])

    def stream_row(self, stream_id: str) -> dict[str, Any]:
        rows = self.query(
            "SELECT status, runs, lease_owner FROM reports_streamingjob WHERE id = %s",
            [stream_id],
        )
        status, runs, owner = rows[0]
        return {"status": status, "runs": runs, "lease_owner": owner}

    def attempts(self, stream_id: str) -> dict[str, int]:
        """Model calls per stage key (StageAttempt rows)."""
        rows = self.query(
            "SELECT s.key, count(a.id) FROM reports_stage s "
            "LEFT JOIN reports_stageattempt a ON a.stage_id = s.id "
            "WHERE s.stream_id = %s GROUP BY s.key",
            [stream_id],
        )
        return {key: count for key, count in rows}

    def stage_statuses(self, stream_id: str) -> dict[str, str]:
        rows = self.query(
            "SELECT key, status FROM reports_stage WHERE stream_id = %s", [stream_id]
        )
        return dict(rows)

    def send_run_task(self, stream_id: str, task_id: str | None = None) -> str:
        """Put a run_stream message on the queue, as a duplicate or redelivery would."""
        from celery import Celery

        app = Celery(broker=self.env["REDIS_URL"])
        app.conf.task_serializer = "json"
        task_id = task_id or str(uuid.uuid4())
        with app.connection_for_write() as conn:
            app.send_task(
                "reports.tasks.run_stream", args=[stream_id], task_id=task_id,
                queue=self.env["CELERY_QUEUE"], connection=conn,
            )
        return task_id


def _alive_and(proc: Proc, text: str) -> bool:
    assert proc.alive(), proc.output()
    return text in proc.output()


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Web:
    """A Daphne process and an HTTP client with its own cookie jar."""

    def __init__(self, proc: Proc, host: str) -> None:
        self.proc = proc
        self.host = host
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    def request(self, method: str, path: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        req = urllib.request.Request(
            self.origin + path, data=data, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(req, timeout=10) as resp:
                return Response(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def form(self, path: str, fields: dict[str, str]) -> Response:
        """Post a page's form as a browser would (its CSRF token read from the page)."""
        page = self.get(path).body.decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, page[:500]
        form = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": match[1]}).encode()
        return self.request("POST", path, form,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def sign_up(self, username: str) -> None:
        """Create an account through the sign-up form (no process started for it)."""
        self.form("/accounts/signup/", {"username": username, "password1": PASSWORD,
                                        "password2": PASSWORD})

    def login(self, username: str) -> None:
        self.form("/accounts/login/", {"username": username, "password": PASSWORD})
        assert self.cookie("sessionid"), "login failed"

    def create_stream(self, **overrides: str) -> str:
        body = json.dumps(
            {"type": "report", "input_data": {**REPORT_INPUT, **overrides}}
        ).encode()
        response = self.request(
            "POST", "/api/streams/", body,
            {"Content-Type": "application/json", "X-CSRFToken": self.cookie("csrftoken")},
        )
        assert response.status == 201, response.body
        stream_id: str = response.json()["stream_id"]
        return stream_id

    def ws_headers(self) -> dict[str, str]:
        return {"Cookie": f"sessionid={self.cookie('sessionid')}"}


async def watch_stream(web: Web, stream_id: str, *, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Connect to ``/ws/streams/<id>/`` on ``web`` and collect messages until the stream
    ends (a terminal event, or a snapshot of a finished stream)."""
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    messages: list[dict[str, Any]] = []
    uri = f"ws://{web.host}/ws/streams/{stream_id}/"
    headers = web.ws_headers()
    async with connect(uri, origin=Origin(web.origin), additional_headers=headers) as socket_:
        async with asyncio.timeout(timeout):
            async for raw in socket_:
                message = json.loads(raw)
                messages.append(message)
                if message["type"] in {"stream.completed", "stream.failed", "stream.cancelled"}:
                    break
                if message["type"] == "snapshot" and message["stream"]["status"] in {
                    "completed", "failed", "cancelled"
                }:
                    break
    return messages


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A fresh database, Redis namespaces, migrations and a user; processes stopped at the end."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    tag = uuid.uuid4().hex[:10]
    database = f"rs_test_{tag}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CHANNEL_LAYER_PREFIX": f"rs-test-{tag}",
        "CELERY_QUEUE": f"rs-test-{tag}",
        "LLM_PROVIDER": "offline",
        "OFFLINE_TOKENS_PER_SECOND": "600",
        "OFFLINE_FAULTS": "",
        # Most tests start many streams at once; test_fair_sharing.py sets its own.
        "STREAMS_PER_USER_PER_MINUTE": "0",
        "MAX_ACTIVE_STREAMS_PER_USER": "0",
        "LEASE_TTL_SECONDS": "3",
        "LEASE_HEARTBEAT_SECONDS": "0.5",
        "SWEEP_INTERVAL_SECONDS": "1",
        "DB_POOL_MAX_SIZE": "4",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }
    cluster = Cluster(env, tmp_path_factory.mktemp("distributed"), database)
    try:
        cluster.manage("migrate", "--noinput")
        cluster.manage("createsuperuser", "--noinput", "--username", "olivia",
                       "--email", "olivia@example.com")
        yield cluster
    finally:
        for proc in cluster.procs:
            proc.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (f"rs-test-{tag}*", f"*rs-test-{tag}*"):
            keys = list(client.scan_iter(pattern))
            if keys:
                client.delete(*keys)


@pytest.fixture(scope="session")
def web(cluster: Cluster) -> Web:
    """A Daphne process, logged in as the test user."""
    web = cluster.daphne()
    web.login("olivia")
    return web


@pytest.fixture
def worker(cluster: Cluster) -> Iterator[Proc]:
    # A slow first stage: the web process's first enqueue opens its broker connection
    # (~2 s), and watchers must be connected before the stream is over.
    proc = cluster.worker("worker", OFFLINE_FAULTS="brief:slow:10")
    yield proc
    proc.stop()


def wait_status(cluster: Cluster, stream_id: str, status: str, timeout: float = 90) -> None:
    def reached() -> bool:
        return cluster.stream_row(stream_id)["status"] == status

    wait_for(reached, timeout=timeout, interval=0.1)


def check(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    return wait_for(condition, timeout=timeout, interval=0.05)
