"""Review points: a stream waits after a review stage (holding no slot), and goes on when
its owner approves, edits (checked against the stage's schema) or reruns the stage."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import (
    EmailNotice,
    StageStatus,
    StreamingJob,
    StreamStatus,
    Webhook,
    WebhookDelivery,
)
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams.selectors import stream_snapshot
from tests.conftest import REPORT_INPUT, post_json

pytestmark = pytest.mark.django_db(transaction=True)

OUTLINE = {"sections": [{"title": "Why customers leave", "purpose": "The churn drivers."},
                        {"title": "Onboarding fixes", "purpose": "What to change first."}]}


def signed_in(user: User) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")
    return client


def create(client: Client, **body: Any) -> Any:
    return post_json(client, "/api/streams/",
                     {"type": "report", "input_data": REPORT_INPUT, **body})


def waiting_stream(client: Client, keys: list[str] | None = None) -> StreamingJob:
    response = create(client, review_after=keys or ["outline"])
    assert response.status_code == 201, response.content
    stream_id = response.json()["stream_id"]
    assert run_stream(stream_id) == StreamStatus.AWAITING_REVIEW
    return StreamingJob.objects.get(pk=stream_id)


def review(client: Client, stream: StreamingJob, key: str, **body: Any) -> Any:
    return post_json(client, f"/api/streams/{stream.pk}/stages/{key}/review/", body)


def test_the_stream_waits_after_the_review_stage_and_nothing_after_it_starts(
    user: User, fake_provider: FakeProvider
) -> None:
    stream = waiting_stream(signed_in(user))
    assert fake_provider.stage_keys == ["brief", "context", "outline"]
    statuses = {s.key: s.status for s in stream.stages.all()}
    assert statuses["outline"] == StageStatus.COMPLETED
    assert statuses["sections"] == statuses["summary"] == StageStatus.PENDING
    snapshot = stream_snapshot(stream)
    assert snapshot["status"] == "awaiting_review"
    assert snapshot["awaiting_review"] == ["outline"]
    assert snapshot["is_generating"] is False
    # It holds nothing: no lease, no slot, nothing for the sweeper to recover.
    assert (stream.lease_owner, stream.lease_expires_at, stream.waiting_for_slot) == ("", None,
                                                                                      False)
    assert not StreamingJob.objects.active().exists()
    assert not StreamingJob.objects.needing_recovery().exists()


def test_waiting_holds_no_active_stream_slot(
    user: User, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.MAX_ACTIVE_STREAMS_PER_USER = 1
    client = signed_in(user)
    waiting_stream(client)
    other = create(client, input_data={**REPORT_INPUT, "title": "Another"})
    assert other.status_code == 201
    assert other.json()["queue_position"] is None  # admitted at once: the slot is free
    assert run_stream(other.json()["stream_id"]) == StreamStatus.COMPLETED


def test_approve_lets_the_stream_go_on(user: User, fake_provider: FakeProvider) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    response = review(client, stream, "outline", action="approve")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["awaiting_review"]) == ("pending", [])
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert fake_provider.stage_keys.count("outline") == 1  # approved, not written again


def test_an_edit_is_what_the_later_stages_receive(user: User, fake_provider: FakeProvider) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    model_answer = stream.stages.get(key="outline").output
    response = review(client, stream, "outline", action="edit", data=OUTLINE)
    assert response.status_code == 200, response.content
    outline = stream.stages.get(key="outline")
    assert outline.data == OUTLINE["sections"]  # as the model's answer is stored
    assert "Onboarding fixes" in outline.output
    # The model's answer stays, as the attempt that wrote it.
    assert outline.attempt_log.get().output == model_answer
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    sections_prompt = fake_provider.calls_for("sections")[0].request.prompt
    assert "Why customers leave" in sections_prompt and "Onboarding fixes" in sections_prompt


@pytest.mark.parametrize("data", [
    {"sections": [{"title": "Only one", "purpose": "Too few."}]},
    {"sections": [{"title": "", "purpose": "Blank title."}, {"title": "B", "purpose": "b"}]},
    {"chapters": []},
])
def test_an_edit_that_breaks_the_schema_is_refused_with_the_errors(
    user: User, fake_provider: FakeProvider, data: Any
) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    before = stream.stages.get(key="outline").output
    response = review(client, stream, "outline", action="edit", data=data)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "invalid_input" and body["details"]
    assert all(detail["field"] for detail in body["details"])
    stream.refresh_from_db()
    assert stream.status == StreamStatus.AWAITING_REVIEW
    assert stream.stages.get(key="outline").output == before


def test_a_prose_stage_is_edited_as_text(user: User, fake_provider: FakeProvider) -> None:
    client = signed_in(user)
    stream = waiting_stream(client, ["context"])
    assert fake_provider.stage_keys == ["brief", "context"]
    assert review(client, stream, "context", action="edit", data={"a": 1}).status_code == 422
    response = review(client, stream, "context", action="edit",
                      text="Churn is driven by a confusing first week.")
    assert response.status_code == 200
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert "confusing first week" in fake_provider.calls_for("outline")[0].request.prompt


def test_rerun_writes_the_stage_again_with_instructions_and_waits_again(
    user: User, fake_provider: FakeProvider
) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    response = review(client, stream, "outline", action="rerun",
                      instructions="Put onboarding first.")
    assert response.status_code == 200
    assert run_stream(stream.pk) == StreamStatus.AWAITING_REVIEW
    calls = fake_provider.calls_for("outline")
    assert len(calls) == 2 and "Put onboarding first." in calls[1].request.prompt
    assert fake_provider.calls_for("sections") == []
    assert review(client, stream, "outline", action="approve").status_code == 200
    assert run_stream(stream.pk) == StreamStatus.COMPLETED


def test_review_refusals(user: User, other_user: User, fake_provider: FakeProvider) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    assert review(client, stream, "brief", action="approve").status_code == 409
    assert review(client, stream, "nope", action="approve").status_code == 404
    assert review(client, stream, "outline", action="delete").status_code == 422
    assert review(client, stream, "outline", action="edit").status_code == 422
    assert review(signed_in(other_user), stream, "outline", action="approve").status_code == 404
    anonymous = post_json(Client(), f"/api/streams/{stream.pk}/stages/outline/review/",
                          {"action": "approve"})
    assert anonymous.status_code == 401
    review(client, stream, "outline", action="approve")
    assert review(client, stream, "outline", action="approve").status_code == 409


@pytest.mark.parametrize("keys", [["nope"], "outline", [1]])
def test_unknown_review_keys_are_422(user: User, keys: Any) -> None:
    response = create(signed_in(user), review_after=keys)
    assert response.status_code == 422
    assert "review_after" in response.json()["details"][0]["field"]
    assert not StreamingJob.objects.exists()


def test_the_owner_is_told_by_event_webhook_and_email(
    user: User, fake_provider: FakeProvider
) -> None:
    from reports.notify.preferences import set_email_opt_in

    set_email_opt_in(user_id=user.pk, enabled=True)
    Webhook.objects.create(owner=user, url="https://hooks.example.com/x",
                           events=["stream.awaiting_review"], secret="s")
    stream = waiting_stream(signed_in(user))
    delivery = WebhookDelivery.objects.get(stream=stream)
    assert delivery.event == "stream.awaiting_review"
    assert '"awaiting_review":["outline"]' in delivery.body
    notice = EmailNotice.objects.get(stream=stream)
    assert notice.event == "stream.awaiting_review"
    from reports.notify.sending import notice_message

    subject, text = notice_message(notice)
    assert subject.startswith("Waiting for your review")
    assert "Outline" in text


def test_a_stream_awaiting_review_can_be_cancelled_and_not_resumed(
    user: User, fake_provider: FakeProvider
) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    assert post_json(client, f"/api/streams/{stream.pk}/resume/").status_code == 409
    response = post_json(client, f"/api/streams/{stream.pk}/cancel/")
    assert response.json()["status"] == "cancelled"


def test_generate_again_returns_the_stream_awaiting_review(
    user: User, fake_provider: FakeProvider
) -> None:
    client = signed_in(user)
    stream = waiting_stream(client)
    again = post_json(client, "/api/streams/", {"type": "report", "job_id": str(stream.job_id)})
    assert again.status_code == 200 and again.json()["stream_id"] == str(stream.pk)


def test_the_card_shows_the_wait_and_reviews_from_it(
    user: User, fake_provider: FakeProvider
) -> None:
    from tests.conftest import csrf_form

    client = signed_in(user)
    stream = waiting_stream(client)
    page = client.get(stream.get_absolute_url()).content.decode()
    assert ">Awaiting review<" in page
    assert "Waiting for your review of Outline" in page
    assert f'action="/streams/{stream.pk}/stages/outline/review/"' in page
    assert "Approve and go on" in page and "Write it again" in page
    # The rerun's forecast, before the click (the fake model has no price; its one run).
    assert "Writing it again: no price set, about 0 s (forecast from 1 run)." in page

    url = f"/streams/{stream.pk}/stages/outline/review/"
    broken = client.post(url, csrf_form(client, {"action": "edit", "text": '{"sections": []}'}),
                         HTTP_HX_REQUEST="true")
    assert "does not fit the stage" in broken.content.decode()
    stream.refresh_from_db()
    assert stream.status == StreamStatus.AWAITING_REVIEW
    import json

    text = json.dumps(OUTLINE)
    client.post(url, csrf_form(client, {"action": "edit", "text": text}), HTTP_HX_REQUEST="true")
    stream.refresh_from_db()
    assert stream.status == StreamStatus.PENDING and stream.reviewed == ["outline"]
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    assert "Onboarding fixes" in fake_provider.calls_for("sections")[0].request.prompt


def test_the_forms_offer_the_review_point(user: User, fake_provider: FakeProvider) -> None:
    from tests.conftest import csrf_form

    client = signed_in(user)
    page = client.get("/reports/new/").content.decode()
    assert "Let me review the outline before the sections are written" in page
    assert "Let me review the learning objectives" in client.get("/starmap/new/").content.decode()
    form = {**REPORT_INPUT, "review_outline": "on", "generate": "1"}
    client.post("/reports/new/", csrf_form(client, form))
    assert StreamingJob.objects.get().review_after == ["outline"]
