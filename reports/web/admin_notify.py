"""Admin: webhooks, the delivery log (every attempt with the receiver's response code),
e-mail notices and users' notification settings."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from reports.models import (
    DeliveryAttempt,
    EmailNotice,
    NotificationSettings,
    Webhook,
    WebhookDelivery,
)


class DeliveryInline(admin.TabularInline[WebhookDelivery, Webhook]):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("id", "event", "stream", "status", "attempts", "last_status_code", "due_at")
    readonly_fields = fields
    ordering = ["-created_at"]


    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AttemptInline(admin.TabularInline[DeliveryAttempt, WebhookDelivery]):
    """The delivery log: each POST with the receiver's response code (or the error)."""

    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "status_code", "duration_ms", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin[Webhook]):
    list_display = ["url", "owner", "events", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["url", "owner__username"]
    readonly_fields = ["id", "created_at"]
    # The secret is never shown again after registration, not even here.
    exclude = ["secret"]
    inlines = [DeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = [
        "id", "event", "webhook", "status", "attempts", "last_status_code", "due_at", "created_at"
    ]
    list_filter = ["status", "event", "last_status_code"]
    list_select_related = ["webhook"]
    search_fields = ["id", "webhook__url", "stream__id"]
    readonly_fields = [
        "id", "webhook", "stream", "event", "seq", "status", "attempts", "due_at",
        "claimed_until", "last_status_code", "last_error", "created_at", "finished_at", "body",
    ]
    inlines = [AttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(EmailNotice)
class EmailNoticeAdmin(admin.ModelAdmin[EmailNotice]):
    list_display = ["id", "event", "stream", "status", "attempts", "due_at", "finished_at"]
    list_filter = ["status", "event"]
    readonly_fields = [
        "id", "stream", "event", "seq", "status", "attempts", "due_at", "claimed_until",
        "last_error", "created_at", "finished_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin[NotificationSettings]):
    list_display = ["user", "email_when_finished"]
    search_fields = ["user__username"]
