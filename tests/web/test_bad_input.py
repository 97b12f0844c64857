"""Bad input of every kind gets a 4xx in the form its caller reads, never a 500, and
touches nothing already saved. Marked ``postgres``: ``make test`` runs these again on
PostgreSQL, where a NUL character cannot be stored at all."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import ReportJob, StreamingJob

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

STARMAP = {
    "title": "Onboarding", "organisation": "Acme", "industry": "Retail", "size": "50-249",
    "roles_audiences": "Store managers", "business_goals": "Retention",
    "performance_gaps": "Slow onboarding", "timeline": "Q3",
}


@pytest.fixture
def client(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def post_json(client: Client, path: str, body: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json")


def assert_api_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "message"} and body["message"]
    if code:
        assert body["error"] == code
    return body


@pytest.fixture
def stream(make_stream: Any) -> StreamingJob:
    stream: StreamingJob = make_stream()
    return stream


def test_a_body_over_the_limit_is_a_json_400_and_creates_nothing(
    client: Client, report_input: dict[str, str]
) -> None:
    body = {"type": "report", "input_data": {**report_input, "objective": "x" * 2_000_000}}
    assert_api_error(post_json(client, "/api/streams/", body), 400, "too_large")
    assert not ReportJob.objects.exists()


@pytest.mark.parametrize("job_type", ["report", "starmap"])
@pytest.mark.parametrize("bad", ["a\x00b", "   ", "\x07bell"])
def test_a_bad_text_field_is_a_422_naming_the_field(
    client: Client, report_input: dict[str, str], job_type: str, bad: str
) -> None:
    inputs = {**(report_input if job_type == "report" else STARMAP), "title": bad}
    body = assert_api_error(
        post_json(client, "/api/streams/", {"type": job_type, "input_data": inputs}), 422
    )
    assert [d["field"] for d in body["details"]] == ["title"]
    assert "blank" in body["details"][0]["message"]
    assert not StreamingJob.objects.exists()


@pytest.mark.parametrize("job_type", ["report", "starmap"])
def test_extra_fields_are_refused_for_every_job_type(
    client: Client, report_input: dict[str, str], job_type: str
) -> None:
    inputs = {**(report_input if job_type == "report" else STARMAP), "colour": "blue"}
    body = assert_api_error(
        post_json(client, "/api/streams/", {"type": job_type, "input_data": inputs}), 422
    )
    assert body["details"] == [{"field": "colour", "message": "Unknown field."}]


@pytest.mark.parametrize("budget", ["1,2,3", "12,34", "1 000,000", "abc"])
def test_a_budget_that_is_not_an_amount_is_refused(client: Client, budget: str) -> None:
    inputs = {**STARMAP, "budget": budget}
    body = assert_api_error(
        post_json(client, "/api/streams/", {"type": "starmap", "input_data": inputs}), 422
    )
    assert body["details"][0]["field"] == "budget"


@pytest.mark.parametrize(("budget", "stored"), [("$50,000", "50000.00"), (1234.5, "1234.50")])
def test_budgets_as_people_type_them_are_read(client: Client, budget: Any, stored: str) -> None:
    inputs = {**STARMAP, "budget": budget}
    response = post_json(client, "/api/streams/", {"type": "starmap", "input_data": inputs})
    assert response.status_code == 201, response.content
    from starmap.models import StarmapJob

    assert str(StarmapJob.objects.get().budget) == stored


def test_the_published_schema_lists_choices_and_text_rules(client: Client) -> None:
    pipelines = {p["type"]: p["input_schema"] for p in client.get("/api/pipelines/").json()}
    starmap = pipelines["starmap"]
    size = starmap["properties"]["size"]
    ref = size["$ref"].rsplit("/", 1)[-1]
    assert starmap["$defs"][ref]["enum"] == ["1-49", "50-249", "250-999", "1000-4999", "5000+"]
    for schema in pipelines.values():
        for name in schema["required"]:
            prop = schema["properties"][name]
            if prop.get("type") == "string":
                assert prop["minLength"] == 1 and prop["maxLength"] and prop["pattern"], name
    budget = starmap["properties"]["budget"]["anyOf"][0]
    assert budget["exclusiveMinimum"] == 0 and budget["multipleOf"] == 0.01


@pytest.mark.parametrize(
    "path",
    [
        "/api/streams/{id}/stages/%00/",
        "/api/streams/%00/",
        "/api/reports/%00/",
    ],
)
def test_nul_in_an_api_path_is_a_json_400(client: Client, stream: StreamingJob, path: str) -> None:
    assert_api_error(client.get(path.format(id=stream.pk)), 400, "bad_request")


def test_nul_in_the_retry_paths_is_a_400_and_the_stream_is_untouched(
    client: Client, stream: StreamingJob
) -> None:
    before = stream.seq
    assert_api_error(client.post(f"/api/streams/{stream.pk}/stages/%00/retry/"), 400)
    page = client.post(f"/streams/{stream.pk}/stages/%00/retry/")
    assert page.status_code == 400 and b"NUL" in page.content
    stream.refresh_from_db()
    assert stream.seq == before


def test_nul_in_a_query_or_a_cookie_is_a_400(client: Client) -> None:
    assert client.get("/analytics/?type=%00").status_code == 400
    assert client.get("/", HTTP_COOKIE="sessionid=abc\x00def").status_code == 400


def test_django_s_own_api_errors_are_json(client: Client) -> None:
    assert_api_error(client.get("/api/no-such-thing/"), 404, "not_found")
    response = client.delete("/api/streams/")
    assert_api_error(response, 405, "method_not_allowed")


def test_analytics_refuses_dates_out_of_range_with_a_form_error(
    staff_user: User, client: Client
) -> None:
    client.force_login(staff_user)
    for query in ("end=0001-01-01", "end=9999-12-31", "start=0001-01-01&end=0001-01-02"):
        response = client.get(f"/analytics/?{query}")
        assert response.status_code == 200, query
        assert b"Ensure this value is" in response.content


def test_a_non_staff_analytics_visit_is_a_403_without_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = client.get("/analytics/")
    assert response.status_code == 403
    assert b"Analytics are for staff" in response.content
    assert not [r for r in caplog.records if r.exc_info]


def test_signed_in_pages_are_never_cached(client: Client) -> None:
    response = client.get("/")
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert "no-store" not in Client().get("/accounts/signup/").get("Cache-Control", "")


# Line breaks and the like in a title reach headers (an e-mail subject, a file name):
# a title is one line (issue 32: CR/LF was accepted and the e-mail notice failed).
ONE_LINE_BREAKERS = ["Plan\r\nBcc: x@example.com", "Plan\nB", "Plan\rB", "Plan\tB",
                     "Plan\x85B", "Plan\u2028B", "Plan\u2029B", "Plan\x1bB"]


@pytest.mark.parametrize("job_type", ["report", "starmap"])
@pytest.mark.parametrize("title", ONE_LINE_BREAKERS)
def test_a_title_with_a_line_break_or_control_character_is_a_422(
    client: Client, report_input: dict[str, str], job_type: str, title: str
) -> None:
    inputs = {**(report_input if job_type == "report" else STARMAP), "title": title}
    body = assert_api_error(
        post_json(client, "/api/streams/", {"type": job_type, "input_data": inputs}), 422
    )
    assert body["details"] == [
        {"field": "title",
         "message": "This field must be one line, not blank, without control characters."}
    ]
    assert not StreamingJob.objects.exists()


def test_a_fork_cannot_bring_a_line_break_into_the_title(
    client: Client, stream: StreamingJob
) -> None:
    body = assert_api_error(post_json(client, f"/api/streams/{stream.pk}/fork/", {
        "from_stage": "brief", "input_data": {"title": "New\r\nTitle"},
    }), 422)
    assert [d["field"] for d in body["details"]] == ["title"]
    assert StreamingJob.objects.count() == 1


def test_the_form_refuses_a_title_with_a_line_break(client: Client) -> None:
    response = client.post("/reports/new/", {
        "title": "Plan\r\nB", "client": "Acme", "objective": "Grow.",
    })
    assert response.status_code in (200, 422)
    assert "must be one line" in response.content.decode()
    assert not StreamingJob.objects.exists()


def test_the_published_schema_says_a_title_is_one_line(client: Client) -> None:
    import re

    for pipeline in client.get("/api/pipelines/").json():
        pattern = pipeline["input_schema"]["properties"]["title"]["pattern"]
        assert re.fullmatch(pattern, "Plan B")
        for bad in ONE_LINE_BREAKERS:
            assert not re.fullmatch(pattern, bad), (pipeline["type"], bad)


# Every error has a documented code (docs/api.md, "Errors"): issue 32 found CSRF failures
# and unparsable bodies answering "error": "error".
def test_a_session_request_without_the_csrf_token_is_csrf_failed(
    user: User, report_input: dict[str, str]
) -> None:
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    strict.force_login(user)
    body = {"type": "report", "input_data": report_input}
    refused = post_json(strict, "/api/streams/", body)
    assert_api_error(refused, 403, "csrf_failed")
    assert "X-CSRFToken" in refused.json()["message"]
    assert not StreamingJob.objects.exists()


@pytest.mark.parametrize("raw", ["{not json", '{"type": "report",', "\xff\xfe", "[1, 2"])
def test_a_body_that_is_not_json_is_bad_request(user: User, raw: str) -> None:
    from reports.models import create_api_token

    token = create_api_token(user=user)
    client = Client(raise_request_exception=False)
    response = client.post("/api/streams/", raw.encode("latin-1"),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    body = assert_api_error(response, 400, "bad_request")
    assert "JSON" in body["message"]


def test_a_page_form_without_the_csrf_token_is_the_sites_403_page(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    strict = Client(enforce_csrf_checks=True, raise_request_exception=False)
    strict.force_login(user)
    with caplog.at_level(logging.WARNING):
        response = strict.post("/reports/new/", {"title": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert 'href="/static/favicon.svg"' in page or "favicon" in page  # the site's page
    assert "reload the page" in page.lower()
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.subprocess
def test_a_chunked_body_over_the_limit_is_a_400_without_a_traceback() -> None:
    """A body sent without Content-Length (chunked) over 256 KiB, to a real Daphne: a
    400 with the API's error body, and no traceback in the server's log."""
    import http.client
    import subprocess
    import sys

    from devtools.servers import ROOT, embedded_server

    with embedded_server() as server:
        made = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from django.contrib.auth.models import User\n"
             "from reports.models import create_api_token\n"
             "print(create_api_token(user=User.objects.create_user('chunky', password='x')))"],
            cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120, check=True,
        )
        token = made.stdout.split()[-1]
        answers = []
        for path, headers in [("/api/streams/", {"Authorization": f"Bearer {token}",
                                                 "Content-Type": "application/json"}),
                              ("/accounts/login/", {})]:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            conn.putrequest("POST", path)
            for name, value in {**headers, "Transfer-Encoding": "chunked"}.items():
                conn.putheader(name, value)
            conn.endheaders()
            chunk = b"x" * 65536
            for _ in range(5):  # 320 KiB
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
            response = conn.getresponse()
            answers.append((response.status, response.read()))
            conn.close()
        log = server.log()
    assert answers[0][0] == 400 and json.loads(answers[0][1])["error"] == "too_large"
    assert answers[1][0] == 400
    assert "Traceback" not in log, log[-3000:]
