"""The API's webhooks: register, list and delete the URLs that hear of stream endings
(docs/webhooks-and-email.md)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status

from reports.notify import webhooks
from reports.web.api_common import ErrorOut, request_user

router = Router(tags=["webhooks"])


class WebhookIn(Schema):
    url: str
    events: list[str]


class WebhookOut(Schema):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreatedOut(WebhookOut):
    secret: str


@router.post("/webhooks/", response={201: WebhookCreatedOut, 422: ErrorOut})
def create_webhook(request: HttpRequest, payload: WebhookIn) -> Status[dict[str, Any]]:
    """Register a URL for ``events`` (``stream.completed``, ``stream.failed``,
    ``stream.cancelled``, ``stream.awaiting_review``) of your streams: 201 with its
    ``id`` and signing ``secret`` (shown only here). Private and loopback targets are
    refused with 422."""
    webhook = webhooks.webhook_create(
        user=request_user(request), url=payload.url, events=payload.events
    )
    return Status(201, webhooks.webhook_out(webhook, with_secret=True))


@router.get("/webhooks/", response=list[WebhookOut])
def list_webhooks(request: HttpRequest) -> list[dict[str, Any]]:
    """Your webhooks, newest first (without their secrets)."""
    return [webhooks.webhook_out(w) for w in webhooks.webhooks_of(user=request_user(request))]


@router.delete("/webhooks/{webhook_id}/", response={204: None, 404: ErrorOut})
def delete_webhook(request: HttpRequest, webhook_id: str) -> HttpResponse:
    """Remove a webhook: nothing more is sent to it, not even pending retries."""
    webhooks.webhook_delete(user=request_user(request), webhook_id=webhook_id)
    return HttpResponse(status=204)
