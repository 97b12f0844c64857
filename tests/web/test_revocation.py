"""A password change, deactivation or deletion made by another process ends the user's
sessions at once (issue 32, finding 2: they kept working for up to 5 minutes, the
per-process user cache), and closes their open sockets (finding 3), against a real
embedded-mode Daphne with ``manage.py shell`` as the other process."""

from __future__ import annotations

import asyncio
import http.cookiejar
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from devtools.servers import PASSWORD, ROOT, ServerProcess, embedded_server

pytestmark = pytest.mark.subprocess


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer to look at, not to follow


class Browser:
    """A cookie jar and a few requests, as a person's browser makes them."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirects()
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.server.url + path, data, timeout=20) as response:
                return response.status, response.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Location", "")

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def log_in(self, username: str) -> None:
        with self.opener.open(self.server.url + "/accounts/login/", timeout=20) as page:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        assert token
        status, _ = self.request("/accounts/login/", {
            "username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]})
        assert status == 302 and self.cookie("sessionid")


def shell(server: ServerProcess, code: str) -> None:
    """Run ``code`` in ``manage.py shell``: another process, on the server's database."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.contrib.auth.models import User\n" + code],
        cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


CHANGES = {
    "password": "u = User.objects.get(username='pat'); u.set_password('x-new-phrase-9'); u.save()",
    "deactivated": "User.objects.filter(username='dee').update(is_active=False)",
    "deleted": "User.objects.get(username='del').delete()",
}
NAMES = {"password": "pat", "deactivated": "dee", "deleted": "del"}


async def closed_code(url: str, cookie: str, origin: str, changed: Any) -> int:
    """Open ``/ws/live/`` with ``cookie``, run ``changed`` in a thread, and wait for
    the server to close the socket: its close code."""
    async with connect(url, origin=Origin(origin),
                       additional_headers={"Cookie": f"sessionid={cookie}"}) as socket:
        await asyncio.to_thread(changed)
        try:
            async with asyncio.timeout(20):
                async for _ in socket:
                    pass
        except ConnectionClosed:
            pass
        assert socket.close_code is not None
        return socket.close_code


def test_changes_from_another_process_end_sessions_and_sockets_at_once() -> None:
    with embedded_server(ACCESS_RECHECK_SECONDS="0.5") as server:
        shell(server, "\n".join(
            f"User.objects.create_user({name!r}, password={PASSWORD!r})"
            for name in NAMES.values()))
        browsers = {how: Browser(server) for how in CHANGES}
        for how, browser in browsers.items():
            browser.log_in(NAMES[how])
            for _ in range(2):  # the second answer could come from a cache
                assert browser.request("/settings/") == (200, "")
        # A change by another process: the very next request is signed out.
        shell(server, "\n".join(CHANGES.values()))
        for browser in browsers.values():
            status, location = browser.request("/settings/")
            assert (status, location.split("?")[0]) == (302, "/accounts/login/")

        # A socket open during such a change is closed with 4401 (found by the recheck:
        # the in-memory channel layer of embedded mode reaches no other process).
        shell(server, f"User.objects.create_user('sox', password={PASSWORD!r})")
        browser = Browser(server)
        browser.log_in("sox")
        url = server.url.replace("http://", "ws://") + "/ws/live/"
        code = asyncio.run(closed_code(url, browser.cookie("sessionid"), server.url, lambda: shell(
            server, "u = User.objects.get(username='sox'); u.set_password('p-2x'); u.save()")))
        log = server.log()
    assert code == 4401
    assert "Traceback" not in log, log[-3000:]
