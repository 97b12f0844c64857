"""API tokens: an optional expiry (``create_api_token --days N``), shown in the admin
and in ``GET /api/tokens/``; an expired or revoked token is refused like a wrong one,
over HTTP, WebSocket and SSE."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from reports.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)

WRONG_TOKEN_BODY = {"error": "unauthorized",
                    "message": "Log in (or send a valid CSRF token) first.", "details": None}


def issue(username: str, *args: str) -> str:
    out = io.StringIO()
    call_command("create_api_token", username, *args, stdout=out)
    return out.getvalue().strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expire(token_pk: Any) -> None:
    ApiToken.objects.filter(pk=token_pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_days_sets_an_expiry_and_none_means_never(user: User) -> None:
    before = timezone.now()
    issue(user.username, "--days", "7", "--name", "ci")
    issue(user.username)
    dated, forever = ApiToken.objects.order_by("-expires_at")
    assert dated.expires_at is not None and forever.expires_at is None
    assert timedelta(days=7) <= dated.expires_at - before < timedelta(days=7, minutes=1)


@pytest.mark.parametrize("days", ["0", "-1", "abc", "100000"])
def test_a_bad_number_of_days_is_refused(user: User, days: str) -> None:
    with pytest.raises((CommandError, SystemExit)):
        issue(user.username, "--days", days)
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused_like_a_wrong_one(user: User) -> None:
    token = issue(user.username, "--days", "1")
    client = Client(enforce_csrf_checks=True)
    assert client.get("/api/pipelines/", headers=bearer(token)).status_code == 200
    expire(ApiToken.objects.get().pk)
    expired = client.get("/api/pipelines/", headers=bearer(token))
    wrong = client.get("/api/pipelines/", headers=bearer("rs_wrong"))
    assert expired.status_code == wrong.status_code == 401
    assert expired.json() == wrong.json() == WRONG_TOKEN_BODY


async def test_an_expired_token_opens_no_socket_and_no_event_stream(
    asgi_app: Any, user: User, make_stream: Any
) -> None:
    from channels.db import database_sync_to_async

    from tests.live.test_sse import open_events

    stream = await database_sync_to_async(make_stream)()
    token = await database_sync_to_async(issue)(user.username, "--days", "1")
    pk = await database_sync_to_async(lambda: ApiToken.objects.get().pk)()
    await database_sync_to_async(expire)(pk)
    communicator = WebsocketCommunicator(
        asgi_app, f"/ws/streams/{stream.pk}/", headers=[(b"origin", b"http://localhost")],
        subprotocols=["bearer", token],
    )
    connected, code = await communicator.connect(timeout=5)
    assert (connected, code) == (False, 4403)
    events = await open_events(f"/api/streams/{stream.pk}/events/",
                               (b"authorization", f"Bearer {token}".encode()))
    assert events.status == 401


def test_the_api_lists_your_tokens_with_their_expiry_and_revokes_one(
    user: User, other_user: User
) -> None:
    kept = issue(user.username, "--days", "30", "--name", "ci")
    gone = issue(user.username, "--name", "laptop")
    issue(other_user.username, "--name", "not yours")
    client = Client(enforce_csrf_checks=True)
    listed = client.get("/api/tokens/", headers=bearer(kept)).json()
    assert [(t["name"], t["prefix"]) for t in listed] == [("laptop", gone[:10]), ("ci", kept[:10])]
    assert listed[0]["expires_at"] is None and listed[1]["expires_at"]
    assert {"id", "created_at", "last_used_at"} <= set(listed[0])
    assert all(kept not in json.dumps(t) and gone not in json.dumps(t) for t in listed)

    laptop = listed[0]["id"]
    assert client.delete(f"/api/tokens/{laptop}/", headers=bearer(kept)).status_code == 204
    assert client.get("/api/pipelines/", headers=bearer(gone)).status_code == 401
    theirs = ApiToken.objects.get(user=other_user).pk
    assert client.delete(f"/api/tokens/{theirs}/", headers=bearer(kept)).status_code == 404
    assert client.delete("/api/tokens/nope/", headers=bearer(kept)).status_code == 404
    assert ApiToken.objects.filter(user=other_user).exists()


def test_the_admin_shows_each_tokens_expiry(user: User) -> None:
    issue(user.username, "--days", "3", "--name", "ci")
    admin = User.objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/reports/apitoken/").content.decode()
    assert "Expires" in page and "ci" in page
    change = client.get(f"/admin/reports/apitoken/{ApiToken.objects.get().pk}/change/")
    assert change.status_code == 200
    assert "key_hash" not in change.content.decode()  # nothing of the secret is shown
