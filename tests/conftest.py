"""Shared fixtures: users, a fake provider, a stream factory, and real-service guards."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.providers import override_provider
from reports.providers.fake import FakeProvider
from reports.providers.registry import reset_cache

CI = os.environ.get("CI", "").lower() == "true"

REPORT_INPUT = {
    "title": "Customer retention plan",
    "client": "Acme Ltd",
    "objective": "Reduce customer churn by 20% within a year. Start with onboarding.",
    "audience": "the board",
    "context_notes": "Churn rose from 8% to 12% after the price change in March.",
    "constraints": "No new hires this year.",
}


@pytest.fixture(autouse=True)
def _manual_runner(settings: Any) -> None:
    """Tests run streams themselves (engine.run_stream) unless they say otherwise."""
    settings.STREAM_RUNNER = "manual"
    # Tests start many streams at once; the limits have tests of their own.
    settings.STREAMS_PER_USER_PER_MINUTE = 0
    settings.MAX_ACTIVE_STREAMS_PER_USER = 0
    settings.LLM_BACKOFF_BASE_SECONDS = 0.01
    settings.LLM_BACKOFF_MAX_SECONDS = 0.05
    settings.LEASE_HEARTBEAT_SECONDS = 0.2


@pytest.fixture(autouse=True)
def _fresh_provider_cache() -> Iterator[None]:
    """Providers are built from settings and cached: every test starts and (pass or
    fail) ends with an empty cache, so no test's provider leaks into the next."""
    reset_cache()
    try:
        yield
    finally:
        reset_cache()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with this process's cache empty: a user row cached by an earlier
    test (reports/models/users.py) may carry a primary key the database has reused."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    """A provider that replays each stage's draft and records every call in ``history``."""
    provider = FakeProvider()
    with override_provider(provider):
        yield provider


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("alice", "alice@example.com", "correct-horse-battery")


@pytest.fixture
def other_user(db: None) -> User:
    return User.objects.create_user("mallory", "mallory@example.com", "correct-horse-battery")


@pytest.fixture
def staff_user(db: None) -> User:
    return User.objects.create_user(
        "sam", "sam@example.com", "correct-horse-battery", is_staff=True
    )


@pytest.fixture
def api(user: User) -> Any:
    """A signed-in client that enforces CSRF, with its CSRF cookie set: ``post_json``
    sends the token, as the site's pages and the JavaScript client do."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")  # sets the CSRF cookie
    return client


def post_json(client: Any, path: str, body: Any = None, *, raw: str | None = None) -> Any:
    """POST ``body`` as JSON (or ``raw`` as it is) with the client's CSRF token, if any."""
    cookie = client.cookies.get("csrftoken")
    extra = {"HTTP_X_CSRFTOKEN": cookie.value} if cookie else {}
    data = raw if raw is not None else json.dumps({} if body is None else body)
    return client.post(path, data, content_type="application/json", **extra)


def csrf_form(client: Any, form: dict[str, Any]) -> dict[str, Any]:
    """``form`` with the client's CSRF token, as a page's form would post it."""
    return {**form, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}


@pytest.fixture
def report_input() -> dict[str, str]:
    return dict(REPORT_INPUT)


@pytest.fixture
def make_stream(user: User) -> Callable[..., Any]:
    """Create a client-report stream (and its job) for ``user``."""
    from reports.streams.services import create_streaming_job

    def make(owner: User | None = None, **overrides: Any) -> Any:
        stream, _ = create_streaming_job(
            user=owner or user, type="report", input_data={**REPORT_INPUT, **overrides}
        )
        return stream

    return make


class RecordedWait(threading.Event):
    """A cancel flag that records each timeout waited on and returns at once."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        return self.is_set()


@pytest.fixture
def recorded_waits(monkeypatch: pytest.MonkeyPatch) -> list[RecordedWait]:
    """Each run's cancel flag, on which its retry backoff waits: recorded, not slept."""
    from reports.runtime.leases import HeldLease, keeper

    flags: list[RecordedWait] = []
    hold = keeper.hold

    def hold_recorded(stream_id: Any, owner: str) -> HeldLease:
        held = hold(stream_id, owner)
        held.cancelled = RecordedWait()
        flags.append(held.cancelled)
        return held

    monkeypatch.setattr(keeper, "hold", hold_recorded)
    return flags


def _met(condition: Callable[[], Any], deadline: float, timeout: float) -> Any:
    """``condition()``, or AssertionError once it is falsy past ``deadline``."""
    value = condition()
    if not value and time.monotonic() > deadline:
        raise AssertionError(f"condition not met within {timeout} s")
    return value


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it is truthy (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := _met(condition, deadline, timeout)):
        time.sleep(interval)
    return value


async def async_wait_for(
    condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01
) -> Any:
    """``wait_for`` for coroutines: poll without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while not (value := _met(condition, deadline, timeout)):
        await asyncio.sleep(interval)
    return value


def service_available(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally when a service is missing; under CI=true a missing service fails."""
    if service_available(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if CI:
        pytest.fail(message + " (CI=true: services are required)")
    pytest.skip(message)


# --- browser tests: one Daphne and one Chromium per test session ---------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    # The JavaScript client's harness page is served by Playwright, from no address at
    # all: Chromium's Local Network Access checks would refuse its WebSockets to
    # 127.0.0.1 (pages the server serves have a loopback address and are not affected).
    "--disable-features=LocalNetworkAccessChecks",
]
# The offline model as fast as it goes (a stage in one 50 ms tick): tests about pacing
# ask for their own speed with ``offline_model``.
UNPACED = "1000000"


@pytest.fixture(scope="session")
def site() -> Iterator[Any]:
    """The browser tests' server: one embedded-mode Daphne per test session (per xdist
    worker), where each test's requests choose the offline model for their own streams."""
    from devtools.servers import embedded_server

    with embedded_server(OFFLINE_MODEL_HEADER="true", OFFLINE_TOKENS_PER_SECOND=UNPACED) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One Chromium per test session; a failure under CI when it is missing, else a skip.
    (Playwright's loop then runs for the whole session: asyncio tests run in another
    pytest process, which the Makefile and the ``browser`` marker see to.)"""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A fresh page in its own context (cookies, storage), 1280 x 900, closed after."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        context.close()


def offline_model(page: Any, spec: str) -> None:
    """Streams this page starts run the offline model as ``spec`` says (``"rate=400
    faults=outline:auth:1"``), on the shared server, for this test alone."""
    page.context.set_extra_http_headers({"X-Offline-Model": spec})


# --- WebSocket tests ---
@pytest.fixture
def asgi_app() -> Any:
    """The project's ASGI application (origin check and auth included)."""
    from reportsite.asgi import application

    return application


def session_cookie(user: User) -> tuple[bytes, bytes]:
    """A ``cookie`` header that logs ``user`` in on a WebSocket handshake."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
