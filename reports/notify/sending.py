"""Sending one webhook delivery or one e-mail notice, and finding the ones that are due.

Each send claims its row first (a conditional UPDATE with a time limit), so two
processes never send the same row at once and a sender that dies only delays it. A
failure (no answer, a non-2xx answer, a mail server that refuses) is retried with
exponential backoff, ``WEBHOOK_MAX_ATTEMPTS`` times in all, with the same delivery id
and the same body every time (each attempt signs it with its own time: signing.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from reports.documents.versions import latest_version
from reports.domain.config import config
from reports.models import (
    DeliveryAttempt,
    EmailNotice,
    OutboxStatus,
    StreamStatus,
    WebhookDelivery,
)
from reports.notify.preferences import wants_email
from reports.notify.signing import signed_headers
from reports.notify.targets import Target, UnsafeTarget, check_target
from reports.pipelines.inputs import one_line

logger = logging.getLogger(__name__)

WEBHOOK = "webhook"
EMAIL = "email"
# A claim outlives the longest send by this much before the row is due again.
CLAIM_GRACE_SECONDS = 30.0
USER_AGENT = "Reportsite-Webhooks/1"


def backoff_seconds(attempts: int) -> float:
    """How long after its ``attempts``-th failure a row is tried again (doubling)."""
    cfg = config()
    return float(min(cfg.webhook_backoff_base_seconds * 2 ** (attempts - 1),
                     cfg.webhook_backoff_max_seconds))


def _claim_seconds() -> float:
    return config().webhook_timeout_seconds + CLAIM_GRACE_SECONDS


# --- webhooks ---------------------------------------------------------------------
class DeliveryError(Exception):
    """The receiver could not be reached or did not answer (the message says how)."""


def post(target: Target, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to the checked address of ``target``; the response's status code.
    Redirects are not followed (they could lead anywhere) and the body is not read."""
    # Imported here: httpx brings rich and pygments with it, 0.3 s of every process's
    # start, and most processes never send a webhook.
    import httpx

    parts = urlsplit(target.url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    pinned = urlunsplit(
        (parts.scheme, f"{address}:{target.port}", parts.path or "/", parts.query, "")
    )
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(config().webhook_timeout_seconds)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST", pinned, content=body, headers={**headers, "Host": parts.netloc},
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            response.close()
            return response.status_code
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__) from exc


def send_delivery(delivery_id: Any) -> str | None:
    """Try one delivery now; its new status, or None if it was not due (or is gone)."""
    if not WebhookDelivery.objects.claim(delivery_id, seconds=_claim_seconds()):
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if delivery is None:  # its webhook was deleted a moment ago
        return None
    cfg = config()
    number = delivery.attempts + 1
    started_at, started = timezone.now(), time.monotonic()
    code: int | None = None
    error = ""
    final = False
    body = delivery.body.encode()
    try:
        target = check_target(delivery.webhook.url, allow_private=cfg.webhook_allow_private)
        code = post(target, body, {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(body, delivery.webhook.secret, delivery_id=str(delivery.pk),
                             event=delivery.event),
        })
        if not 200 <= code < 300:
            error = f"HTTP {code}"
    except UnsafeTarget as exc:
        error, final = str(exc), True  # refused now: no retry makes it safe
    except DeliveryError as exc:
        error = str(exc)
    duration_ms = round((time.monotonic() - started) * 1000)
    try:
        # The outcome and its attempt row together: a process killed in between would
        # count an attempt that the delivery's log never shows.
        with transaction.atomic():
            status = _settle(WebhookDelivery, delivery.pk, number, error, final,
                             last_status_code=code)
            DeliveryAttempt.objects.create(
                delivery_id=delivery.pk, number=number, started_at=started_at,
                status_code=code, error=error, duration_ms=duration_ms,
            )
    except IntegrityError:
        return None  # the webhook (and its deliveries) was deleted during the attempt
    return status


def _settle(model: Any, pk: Any, number: int, error: str, final: bool, **fields: Any) -> str:
    """Save an attempt's outcome: delivered, due again after a backoff, or given up."""
    now = timezone.now()
    if not error:
        status, due = OutboxStatus.DELIVERED, None
    elif final or number >= config().webhook_max_attempts:
        status, due = OutboxStatus.GAVE_UP, None
    else:
        status, due = OutboxStatus.PENDING, now + timedelta(seconds=backoff_seconds(number))
    model.objects.filter(pk=pk).update(
        status=status,
        attempts=number,
        last_error=error,
        claimed_until=None,
        finished_at=None if due else now,
        **({"due_at": due} if due else {}),
        **fields,
    )
    if due is not None:
        logger.info("%s %s failed (%s); try %d at %s", model.__name__, pk, error, number + 1, due)
    return str(status)


# --- e-mail notices ---------------------------------------------------------------
def notice_message(notice: EmailNotice) -> tuple[str, str]:
    """The subject and text of a notice, with a link to the document (or the stream)."""
    stream = notice.stream
    # One line: a title saved before titles had to be would break the Subject header.
    title = one_line(str(stream.title or stream.input_data.get("title") or "")) or "Your report"
    completed = stream.status == StreamStatus.COMPLETED and notice.event.endswith("completed")
    report = latest_version(stream) if completed else None
    path = (
        reverse("reports:report_detail", args=[report.pk]) if report is not None
        else reverse("reports:stream_detail", args=[stream.pk])
    )
    review = notice.event.endswith("awaiting_review")
    stages = list(stream.stages.in_order())
    waiting = [s.title for s in stages if s.key in stream.review_gates(stages)]
    context = {"stream": stream, "title": title, "completed": completed,
               "url": config().site_url + path, "review": review, "waiting": waiting}
    subject = (f"Waiting for your review: {title}" if review
               else f"Ready: {title}" if completed else f"Stopped: {title}")
    return subject, render_to_string("reports/email_notice.txt", context)


def send_notice(notice_id: Any) -> str | None:
    """Send one e-mail notice to its stream's owner, and to nobody else."""
    if not EmailNotice.objects.claim(notice_id, seconds=_claim_seconds()):
        return None
    notice = EmailNotice.objects.select_related("stream__owner").get(pk=notice_id)
    owner = notice.stream.owner
    number = notice.attempts + 1
    if not owner.email or not owner.is_active or not wants_email(owner.pk):
        # Opted out (or lost the address) since: nothing is sent.
        return _settle(EmailNotice, notice.pk, number, "Not sent: the owner opted out.", True)
    error = ""
    try:
        subject, text = notice_message(notice)
        send_mail(subject, text, None, [owner.email])
    except Exception as exc:  # a mail server's errors are many: every one is retried
        error = f"{type(exc).__name__}: {exc}"[:500]
    return _settle(EmailNotice, notice.pk, number, error, False)


# --- what is due --------------------------------------------------------------------
SENDERS: dict[str, Callable[[Any], str | None]] = {WEBHOOK: send_delivery, EMAIL: send_notice}
MODELS: dict[str, Any] = {WEBHOOK: WebhookDelivery, EMAIL: EmailNotice}


def send_one(kind: str, pk: Any) -> str | None:
    """Send one row of ``kind`` if it is due."""
    return SENDERS[kind](pk)


def due_rows(limit: int = 200) -> list[tuple[str, Any]]:
    """``(kind, pk)`` of the rows that are due now, oldest first."""
    return [
        (kind, pk)
        for kind, model in MODELS.items()
        for pk in model.objects.due().order_by("due_at").values_list("pk", flat=True)[:limit]
    ]


def send_due(submit: Callable[[str, Any], Any] = send_one) -> int:
    """Hand every due row to ``submit`` (by default: send it here and now)."""
    rows = due_rows()
    for kind, pk in rows:
        submit(kind, pk)
    return len(rows)


def next_due_at() -> Any:
    """When the next pending row comes due (None: none is pending)."""
    times = [t for t in (m.objects.next_due_at() for m in MODELS.values()) if t is not None]
    return min(times) if times else None


def release_claims() -> None:
    """Forget every claim: on start in embedded mode, where no other process sends."""
    for model in MODELS.values():
        model.objects.filter(status=OutboxStatus.PENDING).update(claimed_until=None)
