from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import Report, ReportJob, StreamingJob
from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream
from tests.domain.test_rendering import active_content

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def signup(username: str, password: str = "a-long-passphrase-42") -> Any:
    return Client().post(
        "/accounts/signup/",
        {"username": username, "password1": password, "password2": password},
    )


def test_signup_creates_the_account_and_leads_to_log_in() -> None:
    response = signup("newbie")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/reports/new/"
    assert User.objects.filter(username="newbie").exists()
    client = Client()
    client.post("/accounts/login/", {"username": "newbie", "password": "a-long-passphrase-42"})
    assert client.get("/reports/new/").status_code == 200


def test_signup_does_not_tell_whether_a_username_exists(user: User) -> None:
    taken, free = signup(user.username), signup("someone-new")
    assert (taken.status_code, taken["Location"]) == (free.status_code, free["Location"])
    # Not even in the message the next page shows.
    assert Client().get(taken["Location"]).content.count(b"already") == 0
    assert User.objects.filter(username__iexact=user.username).count() == 1
    # The existing account keeps its password.
    assert User.objects.get(pk=user.pk).check_password("correct-horse-battery")


def test_signup_errors_are_shown_on_the_form() -> None:
    response = Client().post(
        "/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"}
    )
    assert response.status_code == 200
    assert b'role="alert"' in response.content
    assert not User.objects.filter(username="x").exists()


def test_pages_need_a_login() -> None:
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_create_and_generate_starts_a_stream(
    client_for: Client, report_input: dict[str, str]
) -> None:
    response = client_for.post("/reports/new/", {**report_input, "generate": "1"})
    job = ReportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    stream = StreamingJob.objects.get()
    assert stream.job_id == job.pk and stream.status == "pending"
    page = client_for.get(job.get_absolute_url())
    assert f'id="stream-{stream.pk}"'.encode() in page.content
    assert f'ws-connect="/ws/live/?streams={stream.pk}"'.encode() in page.content
    assert b'role="progressbar"' in page.content


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", b"This field is required"),
        ("objective", "   ", b"This field"),
        ("title", "x" * 201, b"at most 200 characters"),
        ("objective", "o" * 4001, b"at most 4000"),
    ],
)
def test_bad_form_input_is_a_form_error(
    client_for: Client, report_input: dict[str, str], field: str, value: str, message: bytes
) -> None:
    response = client_for.post("/reports/new/", {**report_input, field: value})
    assert response.status_code == 200
    assert message in response.content
    assert not ReportJob.objects.exists()


def test_generate_twice_gives_one_active_stream(
    client_for: Client, report_input: dict[str, str]
) -> None:
    client_for.post("/reports/new/", report_input)
    job = ReportJob.objects.get()
    client_for.post(f"/reports/{job.pk}/generate/")
    client_for.post(f"/reports/{job.pk}/generate/")
    assert StreamingJob.objects.count() == 1


def test_other_users_pages_are_404(make_stream: Any, other_user: User) -> None:
    stream = make_stream()
    client = Client()
    client.force_login(other_user)
    assert client.get(f"/reports/{stream.job_id}/").status_code == 404
    assert client.get(f"/streams/{stream.pk}/").status_code == 404
    assert client.post(f"/streams/{stream.pk}/cancel/").status_code == 404
    assert client.get("/streams/not-a-uuid/").status_code == 404


def test_unsafe_page_actions_need_csrf(make_stream: Any, user: User) -> None:
    stream = make_stream()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(f"/streams/{stream.pk}/cancel/").status_code == 403
    stream.refresh_from_db()
    assert stream.status == "pending"


@pytest.mark.django_db(transaction=True)
def test_report_page_is_sanitized_and_downloads_markdown(
    make_stream: Any, user: User, fake_provider: FakeProvider
) -> None:
    hostile = (
        "Summary <script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>"
    )
    fake_provider.script("summary", Script(text=hostile))
    stream = make_stream()
    run_stream(stream.pk)
    report = Report.objects.get(stream=stream)
    client = Client()
    client.force_login(user)

    page = client.get(report.get_absolute_url()).content.decode()
    assert "Customer retention plan" in page
    document = page[page.index('<article class="card prose document">') :]
    found = active_content(document)
    assert "script" not in found.tags and "img" not in found.tags and found.problems == []

    live = client.get(stream.get_absolute_url()).content.decode()
    assert "<script>alert(1)" not in live and "<img src=x" not in live

    download = client.get(f"/documents/{report.pk}/download.md")
    assert download["Content-Type"].startswith("text/markdown")
    assert "attachment" in download["Content-Disposition"]
    assert download.content.decode() == report.markdown


def test_progress_template_tag_renders_the_component(make_stream: Any) -> None:
    from django.template import Context, Template

    stream = make_stream()
    html = Template(
        "{% load reports_extras %}{% streaming_report_progress stream show_details=True %}"
    ).render(Context({"stream": stream}))
    assert f'id="stream-{stream.pk}-summary"' in html
    assert html.count('class="stage stage-pending"') == 7
    assert 'aria-valuenow="0"' in html


def test_the_log_in_page_after_sign_up_has_the_new_username_filled_in() -> None:
    """Issue 31, item 15: sign-up ended on an empty log-in form."""
    client = Client()
    password = "a-long-passphrase-42"
    response = client.post(
        "/accounts/signup/", {"username": "fresh", "password1": password, "password2": password},
        follow=True,
    )
    page = response.content.decode()
    assert 'name="username" value="fresh"' in page
    assert "Your account is ready" in page
    assert "landing-intro" not in page  # the form first, not the "Sign up" pitch
    # Another browser's log-in page knows nothing of it.
    assert 'value="fresh"' not in Client().get("/accounts/login/").content.decode()
    client.post("/accounts/login/", {"username": "fresh", "password": password})
    assert client.get("/reports/new/").status_code == 200


def test_logging_out_says_so(user: User) -> None:
    client = Client()
    client.force_login(user)
    response = client.post("/accounts/logout/", follow=True)
    assert b"You are logged out" in response.content
    assert client.get("/").status_code == 302
