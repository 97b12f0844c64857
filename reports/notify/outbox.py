"""The ending hook: what a stream's ending sends out is recorded as rows in the same
transaction as the ending (so a crash loses none and a rollback sends none), then the
dispatcher is woken once it commits. Only rows are written here: nothing waits on a
receiver or a mail server, so no stream is ever held up by one."""

from __future__ import annotations

import json
import time
import uuid

from django.db import transaction

from reports.domain.events import EventType
from reports.models import EmailNotice, StreamingJob, Webhook, WebhookDelivery
from reports.notify.dispatch import get_dispatcher
from reports.notify.preferences import wants_email
from reports.streams.selectors import stream_snapshot

# The endings the owner can be e-mailed about (a cancel is their own doing).
NOTICE_EVENTS = (EventType.STREAM_COMPLETED, EventType.STREAM_FAILED,
                 EventType.STREAM_AWAITING_REVIEW)


def delivery_body(
    event: EventType, stream: StreamingJob, *, delivery_id: uuid.UUID, timestamp: int
) -> str:
    """A delivery's body, the bytes that are signed: ``{event, stream}`` (the snapshot),
    its ``delivery_id`` and the ending's ``timestamp`` (unix seconds)."""
    payload = {
        "event": event.value,
        "stream": stream_snapshot(stream),
        "delivery_id": str(delivery_id),
        "timestamp": timestamp,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def record_ending(stream_id: uuid.UUID, event: EventType, seq: int) -> None:
    """Record the deliveries of the owner's webhooks for ``event`` and, if the owner
    opted in, the e-mail notice (an ending hook: runs in the ending's transaction)."""
    stream = StreamingJob.objects.get(pk=stream_id)
    webhooks = [
        w for w in Webhook.objects.filter(owner_id=stream.owner_id) if event.value in w.events
    ]
    recorded = False
    if webhooks:
        timestamp = int(time.time())
        deliveries = []
        for webhook in webhooks:
            pk = uuid.uuid4()  # named in its own body: one body per webhook
            body = delivery_body(event, stream, delivery_id=pk, timestamp=timestamp)
            deliveries.append(WebhookDelivery(
                pk=pk, webhook=webhook, stream=stream, event=event.value, seq=seq, body=body
            ))
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        recorded = True
    if event in NOTICE_EVENTS and wants_email(stream.owner_id):
        EmailNotice.objects.bulk_create(
            [EmailNotice(stream=stream, event=event.value, seq=seq)], ignore_conflicts=True
        )
        recorded = True
    if recorded:
        transaction.on_commit(lambda: get_dispatcher().wake())
