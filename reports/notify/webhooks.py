"""Writes and reads of webhooks: register, list, delete (owners, or staff, only)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from reports.domain.config import config
from reports.domain.events import EventType
from reports.models import Webhook, visible_to
from reports.notify.targets import UnsafeTarget, check_target
from reports.streams.services import NotFound, ServiceError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser

# The events a webhook may ask for (the contract's three endings).
WEBHOOK_EVENTS = (EventType.STREAM_COMPLETED, EventType.STREAM_FAILED, EventType.STREAM_CANCELLED,
                  EventType.STREAM_AWAITING_REVIEW)
MAX_WEBHOOKS_PER_USER = 20


class InvalidWebhook(ServiceError):
    status = 422
    code = "invalid_webhook"


class RefusedTarget(ServiceError):
    status = 422
    code = "unsafe_target"


def webhook_create(*, user: User, url: str, events: list[str]) -> Webhook:
    """Register ``url`` for ``events`` of the user's streams; 422 for a bad or unsafe URL."""
    allowed = {e.value for e in WEBHOOK_EVENTS}
    unknown = sorted({e for e in events if e not in allowed}, key=str)
    if not events or unknown:
        raise InvalidWebhook(
            f"Unknown event {unknown[0]!r}." if unknown else "Name at least one event.",
            details={"events": sorted(allowed)},
        )
    try:
        target = check_target(url, allow_private=config().webhook_allow_private)
    except UnsafeTarget as exc:
        raise RefusedTarget(str(exc), details={"url": url[:200]}) from None
    if not user.is_authenticated or user.pk is None:
        raise NotFound("Log in to register webhooks.")
    if Webhook.objects.filter(owner_id=user.pk).count() >= MAX_WEBHOOKS_PER_USER:
        raise InvalidWebhook(f"A user may register at most {MAX_WEBHOOKS_PER_USER} webhooks.")
    return Webhook.objects.create(
        owner_id=user.pk, url=target.url, events=sorted(set(events), key=str)
    )


def webhooks_of(*, user: User) -> list[Webhook]:
    """The user's own webhooks, newest first."""
    return list(Webhook.objects.filter(owner_id=user.pk))


def webhook_delete(*, user: User, webhook_id: str) -> None:
    """Remove a webhook with its pending deliveries (nothing more is sent to it)."""
    webhook = _visible(user, webhook_id)
    webhook.delete()


def _visible(user: User, webhook_id: str) -> Webhook:
    try:
        pk = uuid.UUID(str(webhook_id))
    except ValueError:
        pk = None
    found = visible_to(Webhook.objects.all(), user).filter(pk=pk).first() if pk else None
    if found is None:
        raise NotFound(f"No webhook {webhook_id}.")
    return found


def webhook_out(webhook: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    """A webhook as the API shows it (the secret only in the answer to its creation)."""
    out: dict[str, Any] = {
        "id": str(webhook.pk),
        "url": webhook.url,
        "events": list(webhook.events),
        "created_at": webhook.created_at.isoformat(),
    }
    if with_secret:
        out["secret"] = webhook.secret
    return out
