"""What a stream's ending sends out: webhooks of API clients with their deliveries (an
outbox: a row per delivery, retried with backoff until it lands), and the owner's
e-mail notice, opt-in per user."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Min, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone


def new_secret() -> str:
    """A webhook's signing secret (shown to its owner when it is registered)."""
    return "whsec_" + secrets.token_urlsafe(32)


class Webhook(models.Model):
    """An API client's URL that gets a signed POST when one of its owner's streams ends."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="The stream events it is sent.")
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    GAVE_UP = "gave_up", "Gave up"


class OutboxQuerySet(models.QuerySet[Any]):
    def due(self, now: datetime | None = None) -> OutboxQuerySet:
        """Pending rows whose time has come and that no live sender holds."""
        now = now or timezone.now()
        return self.filter(status=OutboxStatus.PENDING, due_at__lte=now).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )

    def claim(self, pk: Any, *, seconds: float) -> bool:
        """Take a due row for ``seconds`` (a conditional UPDATE: one sender at a time;
        a sender that dies lets the claim expire and the row comes due again)."""
        now = timezone.now()
        return bool(
            self.due(now)
            .filter(pk=pk)
            .update(claimed_until=now + timedelta(seconds=seconds))
        )

    def next_due_at(self) -> datetime | None:
        """When the earliest pending row comes due, or its claim runs out if a sender
        holds it (None: nothing pending)."""
        free_at = Greatest("due_at", Coalesce("claimed_until", "due_at"))
        found: datetime | None = (
            self.filter(status=OutboxStatus.PENDING).aggregate(at=Min(free_at))["at"]
        )
        return found


class Outbox(models.Model):
    """What a delivery and an e-mail notice share: state, attempts, when it is due."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey("reports.StreamingJob", on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=40)
    # The ending's seq: one row per ending, however often the hook is called.
    seq = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        abstract = True


class WebhookDelivery(Outbox):
    """One event for one webhook. Its ``id`` is the ``X-Reportsite-Delivery`` header and
    ``body`` the exact bytes signed, the same on every retry."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    body = models.TextField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["webhook", "stream", "seq"], name="one_delivery_per_webhook_ending"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery: what the receiver answered (the admin's delivery log)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"#{self.number}: {self.status_code or self.error[:40]}"


class EmailNotice(Outbox):
    """The owner's e-mail that a stream completed or failed (sent once per ending)."""

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="one_notice_per_ending")
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="notice_due")]

    def __str__(self) -> str:
        return f"{self.event} notice for {self.stream_id} ({self.status})"


class NotificationSettings(models.Model):
    """A user's choices (the settings page): no row means no e-mail."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    email_when_finished = models.BooleanField(
        default=False, help_text="E-mail me when one of my streams completes or fails."
    )

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"{self.user}: e-mail {'on' if self.email_when_finished else 'off'}"
