"""Limits on what one user can do: stream creation rate (429 + Retry-After) and login
attempts (django-axes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from reports.models import ReportJob, StreamingJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.STREAMS_PER_USER_PER_MINUTE = 3
    cache.clear()


def create(client: Client, report_input: dict[str, str], n: int) -> Any:
    body = {"type": "report", "input_data": {**report_input, "title": f"Report {n}"}}
    return client.post("/api/streams/", json.dumps(body), content_type="application/json")


def test_creating_streams_too_fast_is_a_429_with_retry_after(
    user: User, other_user: User, report_input: dict[str, str]
) -> None:
    client = Client()
    client.force_login(user)
    assert [create(client, report_input, n).status_code for n in range(3)] == [201] * 3
    refused = create(client, report_input, 4)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    body = refused.json()
    assert body["error"] == "rate_limited" and "3 streams a minute" in body["message"]
    assert StreamingJob.objects.count() == 3 and ReportJob.objects.count() == 3
    # Another user has a count of their own.
    other = Client()
    other.force_login(other_user)
    assert create(other, report_input, 5).status_code == 201


def test_the_generate_button_shows_the_limit_as_a_message(
    user: User, report_input: dict[str, str]
) -> None:
    client = Client()
    client.force_login(user)
    for n in range(4):
        response = client.post(
            "/reports/new/", {**report_input, "title": f"Report {n}", "generate": "1"}, follow=True
        )
    assert b"streams a minute" in response.content
    assert StreamingJob.objects.count() == 3


def test_zero_turns_the_rate_limit_off(
    user: User, report_input: dict[str, str], settings: Any
) -> None:
    settings.STREAMS_PER_USER_PER_MINUTE = 0
    client = Client()
    client.force_login(user)
    assert {create(client, report_input, n).status_code for n in range(6)} == {201}


def test_wrong_passwords_lock_the_username_out_even_with_the_right_one(user: User) -> None:
    client = Client()
    answers = [
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert answers == [200] * 4 + [429]  # the form with its error, then the lockout
    locked = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert locked.status_code == 429
    assert b"Too many attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_right_password_before_the_limit_still_works(user: User) -> None:
    client = Client()
    for _ in range(3):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_refused_inputs_do_not_use_up_the_quota(
    user: User, report_input: dict[str, str], make_stream: Any
) -> None:
    """Issue 32: every 422 counted, so a client fixing its input was then rate limited."""
    client = Client()
    client.force_login(user)
    bad = {"type": "report", "input_data": {**report_input, "title": ""}}
    unknown = {"type": "nope", "input_data": report_input}
    for body in [bad, unknown] * 3:
        response = client.post("/api/streams/", json.dumps(body),
                               content_type="application/json")
        assert response.status_code == 422
    for n in range(2):
        assert create(client, report_input, n).status_code == 201
    stream = StreamingJob.objects.first()
    assert stream is not None
    StreamingJob.objects.update(status="completed")
    forks: list[dict[str, Any]] = [
        {"from_stage": "nope"}, {"from_stage": "brief", "input_data": {"title": ""}}]
    for fork in forks:
        refused = client.post(f"/api/streams/{stream.pk}/fork/", json.dumps(fork),
                              content_type="application/json")
        assert refused.status_code == 422, refused.content
    forked = client.post(f"/api/streams/{stream.pk}/fork/", json.dumps({"from_stage": "brief"}),
                         content_type="application/json")
    assert forked.status_code == 201  # the third creation of three
    assert create(client, report_input, 9).status_code == 429


def test_the_lock_out_page_says_for_how_long(user: User, settings: Any) -> None:
    """Issue 31, item 15: "paused for a while" did not say how long."""
    settings.AXES_COOLOFF_TIME = 0.25  # hours
    client = Client()
    for _ in range(5):
        locked = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert locked.status_code == 429
    assert "paused for 15 min" in locked.content.decode()
