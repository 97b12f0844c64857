"""Revoking access reaches every process at once (issue 32, findings 2 and 3): two
Daphne processes on one Redis and PostgreSQL; a password change made on one, or a token
revoked there, ends the old session on the other at its next request and closes its
open sockets with 4401, by the announcement alone (the periodic recheck is set to two
minutes here, far past the deadline)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.distributed.conftest import PASSWORD, ROOT, Cluster, Web

# The session's cluster: on the same pytest-xdist worker as the other distributed tests.
pytestmark = [
    pytest.mark.services, pytest.mark.subprocess, pytest.mark.xdist_group("distributed"),
    # (The first test starts the cluster; a busy machine makes every start slower.)
    pytest.mark.timeout(300),
]

SLOW_RECHECK = {"ACCESS_RECHECK_SECONDS": "120"}


@pytest.fixture(scope="module")
def pair(cluster: Cluster) -> Iterator[tuple[Web, Web]]:
    """Two web processes on the cluster with the periodic recheck far off, shared by
    this module's tests (each signs in users of its own)."""
    a, b = cluster.daphne(**SLOW_RECHECK), cluster.daphne(**SLOW_RECHECK)
    yield a, b
    a.proc.stop()
    b.proc.stop()


def no_traceback(*webs: Web) -> None:
    for web in webs:
        assert "Traceback" not in web.proc.output(), web.proc.output()[-3000:]


async def close_code_after(url: str, origin: str, change: Any, *,
                           cookie: str = "", token: str = "") -> int:
    """Open a socket on ``url``, run ``change`` in a thread, and wait (10 s at most)
    for the server to close it: the close code."""
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    protocols = ["bearer", token] if token else None
    async with connect(url, origin=Origin(origin), additional_headers=headers,
                       subprotocols=protocols) as socket:  # type: ignore[arg-type]
        await socket.recv()  # connected and served
        await asyncio.to_thread(change)
        try:
            async with asyncio.timeout(10):
                async for _ in socket:
                    pass
        except ConnectionClosed:
            pass
        assert socket.close_code is not None
        return socket.close_code


def change_password(web: Web, new: str) -> None:
    page = web.get("/accounts/password_change/").body.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, page[:500]
    form = urllib.parse.urlencode({
        "old_password": PASSWORD, "new_password1": new, "new_password2": new,
        "csrfmiddlewaretoken": token[1],
    }).encode()
    response = web.request("POST", "/accounts/password_change/", form,
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 200, response.body[:500]  # followed to the "done" page


def test_a_password_change_on_one_process_ends_the_old_session_on_the_other(
    cluster: Cluster, pair: tuple[Web, Web]
) -> None:
    a, b = pair
    Web(a.proc, a.host).sign_up("rhea")
    old = Web(a.proc, a.host)
    old.login("rhea")
    here = Web(b.proc, b.host)
    here.login("rhea")
    for _ in range(2):  # the second from the shared cache
        assert old.get("/settings/").status == 200
    stream_id = old.create_stream()
    code = asyncio.run(close_code_after(
        f"ws://{a.host}/ws/streams/{stream_id}/", a.origin,
        lambda: change_password(here, "another-passphrase-77"),
        cookie=old.cookie("sessionid"),
    ))
    assert code == 4401
    # (Web follows redirects: a signed-out request ends on the login form.)
    assert b'id="id_password"' in old.get("/settings/").body
    assert b'id="id_password"' not in here.get("/settings/").body  # the changer stays
    no_traceback(a, b)


def test_a_token_revoked_on_one_process_closes_its_socket_on_the_other(
    cluster: Cluster, pair: tuple[Web, Web]
) -> None:
    a, b = pair
    owner = Web(b.proc, b.host)
    owner.login("olivia")
    stream_id = owner.create_stream()
    token = create_token(cluster, "olivia")
    listed = [t for t in json.loads(owner.get("/api/tokens/").body)
              if t["prefix"] == token[:10]]

    def revoke() -> None:
        response = owner.request("DELETE", f"/api/tokens/{listed[0]['id']}/",
                                 headers={"X-CSRFToken": owner.cookie("csrftoken")})
        assert response.status == 204

    code = asyncio.run(close_code_after(
        f"ws://{a.host}/ws/streams/{stream_id}/", a.origin, revoke, token=token))
    assert code == 4401
    no_traceback(a, b)


def create_token(cluster: Cluster, username: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", username, "--days", "1"],
        cwd=ROOT, env=cluster.env, check=True, capture_output=True, text=True, timeout=60,
    )
    return done.stdout.strip()


def test_a_deactivation_in_a_shell_closes_the_socket_on_a_web_process(
    cluster: Cluster, pair: tuple[Web, Web]
) -> None:
    """``manage.py shell`` is a process that lives for one change: its announcement
    must leave before it exits."""
    a, _ = pair
    web = Web(a.proc, a.host)
    web.sign_up("shea")
    web.login("shea")
    stream_id = web.create_stream()
    code = asyncio.run(close_code_after(
        f"ws://{a.host}/ws/streams/{stream_id}/", a.origin,
        lambda: cluster.manage("shell", "-c", "from django.contrib.auth.models import "
                               "User; u = User.objects.get(username='shea'); "
                               "u.is_active = False; u.save()"),
        cookie=web.cookie("sessionid"),
    ))
    assert code == 4401
    no_traceback(a)
