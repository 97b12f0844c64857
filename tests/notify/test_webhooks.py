"""Webhook deliveries from a real stream ending to a real HTTP receiver: signed, retried
with the same delivery id, never sent to a deleted webhook or a private address."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.models import DeliveryAttempt, OutboxStatus, Webhook, WebhookDelivery
from reports.notify.sending import backoff_seconds, send_due
from reports.notify.signing import verify_v2
from reports.notify.webhooks import webhook_create, webhook_delete
from reports.providers.base import PermanentError
from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream
from reports.streams.services import cancel_job
from tests.notify.receiver import running_receiver

pytestmark = pytest.mark.django_db(transaction=True)

ENDINGS = ["stream.completed", "stream.failed", "stream.cancelled"]


def completed_stream(make_stream: Any) -> Any:
    stream = make_stream()
    assert run_stream(stream.pk) == "completed"
    return stream


def test_a_delivery_is_signed_with_the_secret_and_carries_the_snapshot(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        webhook = webhook_create(user=user, url=receiver.url, events=ENDINGS)
        stream = completed_stream(make_stream)
        assert receiver.count() == 0  # the ending only records it: nothing waits on a receiver
        assert send_due() == 1

    [got] = receiver.requests
    expected = "sha256=" + hmac.new(webhook.secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Reportsite-Signature"] == expected
    assert got.headers["Content-Type"] == "application/json"
    assert got.path == "/hooks/reportsite"
    delivery = WebhookDelivery.objects.get()
    assert got.headers["X-Reportsite-Delivery"] == str(delivery.pk)
    payload = json.loads(got.body)
    assert payload["event"] == "stream.completed"
    assert payload["stream"]["stream_id"] == str(stream.pk)
    assert payload["stream"]["status"] == "completed"
    assert payload["stream"]["report_id"]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    # A signature made with another secret does not verify.
    other = hmac.new(b"another-secret", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Reportsite-Signature"] != "sha256=" + other


def test_a_receiver_that_fails_twice_still_gets_it_with_the_same_id(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver(500, 503) as receiver:
        webhook_create(user=user, url=receiver.url, events=["stream.completed"])
        completed_stream(make_stream)
        for _ in range(3):
            send_due()
        assert send_due() == 0  # delivered: nothing is due any more

    assert receiver.count() == 3
    ids = {r.headers["X-Reportsite-Delivery"] for r in receiver.requests}
    bodies = {r.body for r in receiver.requests}
    signatures = {r.headers["X-Reportsite-Signature"] for r in receiver.requests}
    assert len(ids) == len(bodies) == len(signatures) == 1
    delivery = WebhookDelivery.objects.get()
    assert ids == {str(delivery.pk)}
    assert (delivery.status, delivery.attempts) == (OutboxStatus.DELIVERED, 3)
    log = DeliveryAttempt.objects.filter(delivery=delivery).values_list("number", "status_code")
    assert list(log) == [(1, 500), (2, 503), (3, 200)]


def test_a_failed_delivery_waits_its_backoff_before_the_next_try(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    webhook_settings.WEBHOOK_BACKOFF_BASE_SECONDS = 10
    with running_receiver(500) as receiver:
        webhook_create(user=user, url=receiver.url, events=["stream.completed"])
        completed_stream(make_stream)
        send_due()
        assert send_due() == 0  # not due again for 10 s
    assert receiver.count() == 1
    delivery = WebhookDelivery.objects.get()
    attempt = DeliveryAttempt.objects.get()
    assert delivery.status == OutboxStatus.PENDING
    assert (delivery.due_at - attempt.started_at).total_seconds() >= 10


def test_the_default_schedule_retries_at_least_five_times_over_a_minute(settings: Any) -> None:
    from reports.domain.config import config

    retries = config().webhook_max_attempts - 1
    assert retries >= 5
    assert sum(backoff_seconds(n) for n in range(1, retries + 1)) >= 60
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [10, 20, 40]


def test_a_receiver_that_does_not_answer_is_retried(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        closed_url = receiver.url
    # Nothing listens there any more: connection refused, recorded and retried.
    webhook_create(user=user, url=closed_url, events=["stream.completed"])
    completed_stream(make_stream)
    send_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "Connect" in DeliveryAttempt.objects.get().error


def test_a_deleted_webhook_gets_nothing(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        webhook_create(user=user, url=receiver.url + "?kept", events=ENDINGS)
        gone = webhook_create(user=user, url=receiver.url + "?gone", events=ENDINGS)
        completed_stream(make_stream)
        webhook_delete(user=user, webhook_id=str(gone.pk))
        send_due()
        completed_stream(make_stream)  # and it hears of nothing after its deletion
        send_due()
    assert [r.path for r in receiver.requests] == ["/hooks/reportsite?kept"] * 2


def test_a_webhook_deleted_between_retries_gets_no_more_tries(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver(500) as receiver:
        webhook = webhook_create(user=user, url=receiver.url, events=ENDINGS)
        completed_stream(make_stream)
        send_due()
        assert WebhookDelivery.objects.get().status == OutboxStatus.PENDING
        webhook_delete(user=user, webhook_id=str(webhook.pk))
        assert send_due() == 0
    assert receiver.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_only_the_events_asked_for_are_sent_and_only_the_owners(
    user: User, other_user: User, make_stream: Any, fake_provider: FakeProvider,
    webhook_settings: Any,
) -> None:
    with running_receiver() as receiver:
        webhook_create(user=user, url=receiver.url + "?failed", events=["stream.failed"])
        webhook_create(user=other_user, url=receiver.url + "?other", events=ENDINGS)
        completed_stream(make_stream)  # alice's: her hook only wants failures
        fake_provider.script("context", Script(error=PermanentError("Bad key.", kind="auth")))
        failed = make_stream()
        assert run_stream(failed.pk) == "failed"
        cancelled = make_stream()
        cancel_job(stream_id=cancelled.pk, user=user)  # nobody runs it: cancelled on the spot
        send_due()
    [got] = receiver.requests
    assert got.path == "/hooks/reportsite?failed"
    payload = json.loads(got.body)
    assert (payload["event"], payload["stream"]["stream_id"]) == ("stream.failed", str(failed.pk))


def test_a_cancel_on_the_spot_is_delivered_too(
    user: User, make_stream: Any, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        webhook_create(user=user, url=receiver.url, events=["stream.cancelled"])
        stream = make_stream()
        cancel_job(stream_id=stream.pk, user=user)
        send_due()
    [got] = receiver.requests
    assert json.loads(got.body)["event"] == "stream.cancelled"
    assert json.loads(got.body)["stream"]["status"] == "cancelled"


def test_a_target_that_turned_private_is_refused_at_delivery_time(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        webhook_create(user=user, url=receiver.url, events=ENDINGS)
        webhook_settings.WEBHOOK_ALLOW_PRIVATE = False
        completed_stream(make_stream)
        send_due()
        assert send_due() == 0
    assert receiver.count() == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == OutboxStatus.GAVE_UP
    assert "private, loopback or reserved" in delivery.last_error


def test_a_target_that_turned_into_nat64_of_loopback_is_refused_at_delivery_time(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    # Registered while private targets were allowed; by delivery time they are not, and
    # the IPv6 form that carries 127.0.0.1 is judged by what it carries (issue 32).
    webhook_create(user=user, url="http://[64:ff9b::7f00:1]:9/hook", events=ENDINGS)
    webhook_settings.WEBHOOK_ALLOW_PRIVATE = False
    completed_stream(make_stream)
    send_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == (OutboxStatus.GAVE_UP, None)
    assert "private, loopback or reserved" in delivery.last_error


def test_a_delivery_connects_to_the_address_it_checked_not_a_fresh_lookup(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name answers one address when checked and another after; the
    POST goes to the checked one (two receivers on one port, 127.0.0.1 and 127.0.0.2)."""
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":  # no DNS server here: this stands in for one
            host = next(answers, "127.0.0.2")
        return real_getaddrinfo(host, *args, **kwargs)

    with running_receiver() as checked, running_receiver(host="127.0.0.2",
                                                         port=checked.port) as rebound:
        webhook_create(user=user, url=f"http://localhost:{checked.port}/hook", events=ENDINGS)
        Webhook.objects.update(url=f"http://rebind.test:{checked.port}/hook")
        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        completed_stream(make_stream)
        send_due()
    assert (checked.count(), rebound.count()) == (1, 0)
    assert checked.requests[0].headers["Host"] == f"rebind.test:{checked.port}"


def test_a_delivery_signs_its_id_and_time_so_a_replay_does_not_verify(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        webhook = webhook_create(user=user, url=receiver.url, events=ENDINGS)
        stream = completed_stream(make_stream)
        before = int(time.time())
        send_due()
    [got] = receiver.requests
    delivery_id = str(WebhookDelivery.objects.get().pk)
    timestamp = int(got.headers["X-Reportsite-Timestamp"])
    assert before - 1 <= timestamp <= time.time() + 1
    signed = f"{delivery_id}.{timestamp}.".encode() + got.body
    mac = hmac.new(webhook.secret.encode(), signed, hashlib.sha256).hexdigest()
    assert got.headers["X-Reportsite-Signature-V2"] == f"t={timestamp},v1={mac}"
    # The body names its delivery and the ending's time too; the contract's keys stay.
    payload = json.loads(got.body)
    assert payload["delivery_id"] == delivery_id == got.headers["X-Reportsite-Delivery"]
    assert abs(payload["timestamp"] - timestamp) <= 5
    assert (payload["event"], payload["stream"]["stream_id"]) == ("stream.completed",
                                                                  str(stream.pk))

    def ok(**changes: Any) -> bool:
        args = {"body": got.body, "secret": webhook.secret, "delivery_id": delivery_id,
                "signature": got.headers["X-Reportsite-Signature-V2"],
                "now": float(timestamp), **changes}
        return verify_v2(args.pop("body"), args.pop("secret"), **args)

    assert ok()
    assert ok(now=timestamp + 299.0)
    assert not ok(now=timestamp + 301.0)  # replayed after the tolerance
    assert not ok(now=timestamp - 301.0)
    assert not ok(delivery_id=str(uuid.uuid4()))  # replayed under another id
    assert not ok(body=got.body.replace(b"completed", b"cancelled"))
    assert not ok(secret="whsec_another")
    assert not ok(signature=f"t={timestamp + 1},v1={mac}")  # a retimed header
    assert not ok(signature="v1=" + mac)


def test_each_webhook_gets_its_own_delivery_id_in_its_body(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> None:
    with running_receiver() as receiver:
        for n in range(2):
            webhook_create(user=user, url=f"{receiver.url}?{n}", events=ENDINGS)
        completed_stream(make_stream)
        send_due()
    ids = sorted(json.loads(r.body)["delivery_id"] for r in receiver.requests)
    assert ids == sorted(str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True))
    assert len(set(ids)) == 2
