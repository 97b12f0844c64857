"""Admin: inspect streams, their stages and attempts; reports and jobs."""

from __future__ import annotations

from django.contrib import admin

from reports.models import Report, ReportJob, Stage, StageAttempt, StreamingJob


class StageInline(admin.TabularInline[Stage, StreamingJob]):
    model = Stage
    extra = 0
    can_delete = False
    fields = ["position", "key", "status", "attempts", "model", "tokens_in", "tokens_out",
              "cost_usd", "started_at", "finished_at", "error", "output"]
    readonly_fields = fields
    ordering = ["position"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(StreamingJob)
class StreamingJobAdmin(admin.ModelAdmin[StreamingJob]):
    list_display = ["id", "type", "title", "owner", "status", "progress", "current_stage",
                    "cost_usd", "created_at"]
    list_filter = ["status", "type", "created_at"]
    search_fields = ["id", "title", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "type", "job_id", "owner", "input_data", "seq", "runs", "lease_owner",
                       "lease_expires_at", "heartbeat_at", "enqueued_at", "created_at", "started_at",
                       "finished_at", "tokens_in", "tokens_out", "cost_usd", "cost_complete"]
    inlines = [StageInline]


@admin.register(StageAttempt)
class StageAttemptAdmin(admin.ModelAdmin[StageAttempt]):
    list_display = ["stage", "number", "status", "model", "error_kind", "tokens_in", "tokens_out",
                    "cost_usd", "started_at"]
    list_filter = ["status", "error_kind", "model"]
    list_select_related = ["stage"]
    readonly_fields = [f.name for f in StageAttempt._meta.fields]


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin[ReportJob]):
    list_display = ["title", "client", "owner", "created_at"]
    search_fields = ["title", "client", "owner__username"]
    list_select_related = ["owner"]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    list_display = ["title", "job_type", "owner", "stream", "created_at"]
    list_filter = ["job_type", "created_at"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["stream"]
