"""Real server processes for tests: Daphne on a free port with its own database."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


PASSWORD = "a-long-passphrase-42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# How long a process may take to start: a Django process imports for about 2 s of CPU,
# and a loaded 2-core machine running every test group at once can take many times that.
START_TIMEOUT = 90.0


def wait_for_port(
    port: int, timeout: float = START_TIMEOUT, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout} s")


@dataclass
class ServerProcess:
    """A Daphne process serving the project; ``restart`` keeps port and database."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "reportsite.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, process=self.process)

    def kill(self) -> None:
        """SIGKILL: no clean-up, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(database: Path, **extra: str) -> dict[str, str]:
    """The environment of an embedded-mode server on its own SQLite file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"sqlite:///{database}",
        STREAM_RUNNER="embedded",
        LLM_PROVIDER="offline",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)


def _template_path() -> Path:
    """Where the migrated template database for today's migrations lives: named by a
    hash of every migration file and Django's version, so a change makes a new one."""
    import django

    digest = hashlib.sha256(django.get_version().encode())
    for app in ("reports", "starmap"):
        for migration in sorted((ROOT / app).glob("**/migrations/*.py")):
            digest.update(migration.read_bytes())
    return Path(tempfile.gettempdir()) / f"reportsite-template-{digest.hexdigest()[:16]}.sqlite3"


def migrated_database(database: Path) -> None:
    """Put a freshly migrated SQLite database at ``database``. Migrating takes a Django
    start and every migration (seconds, more under load), so it happens once per set of
    migrations, for every test process at once (a file lock), and is then copied."""
    template = _template_path()
    with open(f"{template}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other pytest-xdist workers wait for the first
        if not template.exists():
            building = template.with_suffix(f".{os.getpid()}.tmp")
            migrate(server_env(building))
            with sqlite3.connect(building) as conn:  # fold the WAL in: one file to copy
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            building.replace(template)
    shutil.copyfile(template, database)


@contextmanager
def embedded_server(**extra: str) -> Iterator[ServerProcess]:
    """A migrated, running embedded-mode server; stopped (and its database removed) after."""
    with tempfile.TemporaryDirectory(prefix="reportsite-") as folder:
        env = server_env(Path(folder) / "db.sqlite3", **extra)
        migrated_database(Path(folder) / "db.sqlite3")
        server = ServerProcess(env)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def sign_up(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Create an account in the browser and log in with it (sign-up does not log in:
    it answers a taken username exactly like a free one)."""
    page.goto(base_url + "/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/" not in url)


def log_in(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the login form."""
    page.goto(base_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/" not in url)


def make_staff(server: ServerProcess, username: str, password: str = PASSWORD) -> None:
    """Create a staff superuser in the server's database (as an operator would)."""
    code = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_superuser({username!r}, '', {password!r})"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code],
                   cwd=ROOT, env=server.env, check=True)
