"""Admin: API tokens, with when each was last used and when it expires. Deleting one
revokes it; nothing of the secret is stored or shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from reports.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "expires_at",
                    "state")
    list_filter = ("expires_at",)
    search_fields = ("prefix", "name", "user__username")
    fields = ("prefix", "name", "user", "created_at", "last_used_at", "expires_at")
    readonly_fields = ("prefix", "user", "created_at", "last_used_at")

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return "expired"
        return "usable" if token.user.is_active else "owner inactive"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # made with manage.py create_api_token, which shows the token once
