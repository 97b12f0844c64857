from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import ReportJob, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import post_json

SNAPSHOT_FIELDS = {
    "tokens_cached",
    "stream_id",
    "job_id",
    "type",
    "status",
    "progress",
    "current_stage",
    "eta_seconds",
    "error",
    "report_id",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "created_at",
    "started_at",
    "finished_at",
    "is_generating",
    "is_completed",
    "is_failed",
    "stages",
}
STAGE_FIELDS = {
    "tokens_cached",
    "model",
    "key",
    "title",
    "position",
    "status",
    "attempts",
    "error",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "started_at",
    "finished_at",
    "duration_s",
}


@pytest.mark.django_db
def test_pipelines_list_types_stages_and_input_schema(api: Client) -> None:
    response = api.get("/api/pipelines/")
    assert response.status_code == 200
    report = next(p for p in response.json() if p["type"] == "report")
    assert [s["key"] for s in report["stages"]][:3] == ["brief", "context", "outline"]
    assert report["stages"][-1] == {
        "key": "assembly",
        "title": "Assemble the report",
        "position": 6,
        "reads": ["brief", "context", "sections", "recommendations", "summary"],
        "depends_on": ["brief", "context", "sections", "recommendations", "summary"],
        "reads_inputs": ["title", "client", "audience"],
        "editable": False,
        "weight": 0.2,
        "json_output": False,
        "calls_model": False,
        "output_schema": None,
    }
    assert set(report["input_schema"]["required"]) == {"title", "client", "objective"}
    # A JSON stage documents its shape: the schema its answers are validated against.
    outline = report["stages"][2]
    assert outline["json_output"] is True
    assert outline["output_schema"]["title"] == "Outline"
    assert outline["output_schema"]["properties"]["sections"]["minItems"] == 2


@pytest.mark.django_db
def test_create_returns_201_and_a_full_snapshot(api: Client, report_input: dict[str, str]) -> None:
    response = post_json(api, "/api/streams/", {"type": "report", "input_data": report_input})
    assert response.status_code == 201
    snapshot = response.json()
    assert set(snapshot) >= SNAPSHOT_FIELDS
    assert snapshot["status"] == "pending" and snapshot["progress"] == 0
    assert snapshot["is_generating"] is True and snapshot["is_completed"] is False
    assert len(snapshot["stages"]) == 7
    assert all(set(stage) >= STAGE_FIELDS for stage in snapshot["stages"])
    assert ReportJob.objects.get(pk=snapshot["job_id"]).client == "Acme Ltd"


@pytest.mark.django_db
def test_create_for_a_job_with_an_active_stream_returns_it_with_200(
    api: Client, report_input: dict[str, str]
) -> None:
    first = post_json(api, "/api/streams/", {"type": "report", "input_data": report_input}).json()
    again = post_json(api, "/api/streams/", {"type": "report", "job_id": first["job_id"]})
    assert again.status_code == 200
    assert again.json()["stream_id"] == first["stream_id"]
    assert StreamingJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_snapshot_stage_and_report_of_a_finished_stream(
    api: Client, make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()
    run_stream(stream.pk)

    snapshot = api.get(f"/api/streams/{stream.pk}/").json()
    assert snapshot["status"] == "completed" and snapshot["progress"] == 100
    assert snapshot["is_completed"] is True and snapshot["is_generating"] is False
    assert snapshot["eta_seconds"] is None and snapshot["error"] is None
    assert snapshot["tokens_out"] == sum(s["tokens_out"] for s in snapshot["stages"]) > 0
    assert snapshot["cost_usd"] is None  # the fake model has no price: unknown, not zero
    assert all(s["duration_s"] is not None and s["finished_at"] for s in snapshot["stages"])

    stage = api.get(f"/api/streams/{stream.pk}/stages/brief/").json()
    assert set(stage) >= STAGE_FIELDS
    assert stage["output"].startswith("{") and stage["data"]["key_questions"]

    report = api.get(f"/api/reports/{snapshot['report_id']}/").json()
    assert report["title"] == "Customer retention plan"
    assert report["markdown"].startswith("# Customer retention plan")
    assert report["html"].startswith("<h1>Customer retention plan</h1>")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "nope", "input_data": {"title": "x"}}, 422, "invalid_input"),
        ({"type": "report"}, 422, "invalid_input"),
        ({"type": "report", "input_data": {"title": ""}}, 422, "invalid_input"),
        (
            {
                "type": "report",
                "input_data": {"title": "t", "client": "c", "objective": "o" * 4001},
            },
            422,
            "invalid_input",
        ),
        ({"type": "report", "job_id": "not-a-uuid"}, 404, "not_found"),
        ({"type": "report", "job_id": str(uuid.uuid4())}, 404, "not_found"),
        ({"input_data": {}}, 422, "invalid_input"),
    ],
)
def test_bad_create_requests_get_a_clear_json_4xx(
    api: Client, body: Any, status: int, code: str
) -> None:
    response = post_json(api, "/api/streams/", body)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert StreamingJob.objects.count() == 0


@pytest.mark.django_db
def test_field_errors_name_the_field(api: Client) -> None:
    response = post_json(
        api, "/api/streams/", {"type": "report", "input_data": {"title": "t", "client": ""}}
    )
    fields = {d["field"] for d in response.json()["details"]}
    assert {"client", "objective"} <= fields


@pytest.mark.django_db
def test_malformed_json_is_a_4xx_not_a_500(api: Client) -> None:
    response = post_json(api, "/api/streams/", raw="{not json")
    assert response.status_code == 400
    body = response.json()  # the API's one error shape (reports/web/api.py)
    assert set(body) == {"error", "message", "details"}
    assert body["error"] and body["message"]
    assert StreamingJob.objects.count() == 0


@pytest.mark.django_db
def test_oversized_body_is_refused(api: Client) -> None:
    response = post_json(
        api, "/api/streams/", raw=json.dumps({"type": "report", "input_data": {"x": "y" * 300_000}})
    )
    assert response.status_code in (400, 413)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/streams/not-a-uuid/",
        # Fixed ids: pytest-xdist needs every worker to collect the same test ids.
        "/api/streams/5d0c2a6e-3f1b-4c8e-9a57-0b6f1e2d4c39/",
        "/api/reports/0e8f3b1c-7a24-4d69-8b15-c3a9e6f2d701/",
        "/api/reports/zzz/",
    ],
)
def test_unknown_or_malformed_ids_are_404_json(api: Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_another_users_stream_is_invisible(make_stream: Any, other_user: User) -> None:
    stream = make_stream()
    client = Client(enforce_csrf_checks=True)
    client.force_login(other_user)
    assert client.get(f"/api/streams/{stream.pk}/").status_code == 404
    assert client.get(f"/api/streams/{stream.pk}/stages/brief/").status_code == 404
    client.get("/accounts/login/")
    assert post_json(client, f"/api/streams/{stream.pk}/cancel/").status_code == 404
    stream.refresh_from_db()
    assert stream.status == "pending"


@pytest.mark.django_db
def test_staff_sees_any_stream(make_stream: Any, staff_user: User) -> None:
    stream = make_stream()
    client = Client()
    client.force_login(staff_user)
    assert client.get(f"/api/streams/{stream.pk}/").status_code == 200


@pytest.mark.django_db
def test_anonymous_gets_401_json(make_stream: Any) -> None:
    stream = make_stream()
    response = Client().get(f"/api/streams/{stream.pk}/")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.django_db
def test_unsafe_requests_need_the_csrf_token(user: User, report_input: dict[str, str]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        "/api/streams/",
        json.dumps({"type": "report", "input_data": report_input}),
        content_type="application/json",
    )
    assert response.status_code in (401, 403)
    assert StreamingJob.objects.count() == 0


@pytest.mark.django_db
def test_openapi_schema_lists_the_contract(api: Client) -> None:
    schema = api.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in [
        "/api/pipelines/",
        "/api/streams/",
        "/api/streams/{stream_id}/",
        "/api/streams/{stream_id}/stages/{key}/",
        "/api/reports/{report_id}/",
        "/api/streams/{stream_id}/resume/",
        "/api/streams/{stream_id}/cancel/",
        "/api/streams/{stream_id}/stages/{key}/retry/",
    ]:
        assert path in paths, path


@pytest.mark.django_db
def test_a_bearer_token_works_without_csrf(user: User, report_input: dict[str, str]) -> None:
    import io

    from django.core.management import call_command

    from reports.models import ApiToken

    out = io.StringIO()
    call_command("create_api_token", user.username, "--name", "ci", stdout=out)
    token = out.getvalue().strip()
    assert ApiToken.objects.get().key_hash != token  # only a hash is stored
    client = Client(enforce_csrf_checks=True)
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post(
        "/api/streams/",
        json.dumps({"type": "report", "input_data": report_input}),
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
    assert StreamingJob.objects.get().owner == user
    path = f"/api/streams/{response.json()['stream_id']}/"
    assert client.get(path, headers=auth).status_code == 200
    wrong = client.get(path, headers={"Authorization": "Bearer rs_nope"})
    assert wrong.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("allowed", [True, False])
def test_x_offline_model_sets_the_streams_offline_model_where_allowed(
    api: Client, report_input: dict[str, str], settings: Any, allowed: bool
) -> None:
    settings.OFFLINE_MODEL_HEADER = allowed
    token = api.cookies["csrftoken"].value
    response = api.post(
        "/api/streams/", json.dumps({"type": "report", "input_data": report_input}),
        content_type="application/json", HTTP_X_CSRFTOKEN=token,
        HTTP_X_OFFLINE_MODEL="rate=400 faults=outline:auth:1",
    )
    assert response.status_code == 201
    stream = StreamingJob.objects.get(pk=response.json()["stream_id"])
    assert stream.offline_model == ("rate=400 faults=outline:auth:1" if allowed else "")


@pytest.mark.django_db
def test_a_bad_x_offline_model_is_a_422(
    api: Client, report_input: dict[str, str], settings: Any
) -> None:
    settings.OFFLINE_MODEL_HEADER = True
    token = api.cookies["csrftoken"].value
    response = api.post(
        "/api/streams/", json.dumps({"type": "report", "input_data": report_input}),
        content_type="application/json", HTTP_X_CSRFTOKEN=token, HTTP_X_OFFLINE_MODEL="rate=0",
    )
    assert response.status_code == 422
    assert "rate must be a number above 0" in response.json()["message"]
    assert not StreamingJob.objects.exists()
