"""The starmap job in the admin (its streams are in the core's admin)."""

from __future__ import annotations

from django.contrib import admin

from starmap.models import StarmapJob


@admin.register(StarmapJob)
class StarmapJobAdmin(admin.ModelAdmin[StarmapJob]):
    list_display = ("title", "organisation", "industry", "size", "owner", "created_at")
    list_filter = ("size", "currency")
    search_fields = ("title", "organisation", "industry", "owner__username")
    readonly_fields = ("id", "created_at", "updated_at")
    raw_id_fields = ("owner",)
