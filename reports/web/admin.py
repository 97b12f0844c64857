"""Admin: inspect streams, their stages and attempts, and repair them (resume, cancel,
retry failed stages). The stream list costs the same few queries at any size: what
it shows is annotated onto the one list query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import (
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from reports.domain.formats import NO_VALUE, duration_label, tokens_in_out_label
from reports.domain.money import usd_label
from reports.models import (
    Report,
    ReportJob,
    Stage,
    StageAttempt,
    StageStatus,
    StreamingJob,
)
from reports.streams import services
from reports.streams.costs import stage_cost, stream_cost
from reports.streams.selectors import parse_uuid

OUTPUT_PREVIEW_CHARS = 300
STAGE_FIELDS: list[str] = [
    "key", "status", "attempts", "reasks", "model", "tokens", "cost", "started_at",
    "duration", "error_kind", "error", "output_preview",
]


class HasFailedStageFilter(admin.SimpleListFilter):
    title = "has a failed stage"
    parameter_name = "has_failed"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        failed = Exists(Stage.objects.filter(stream=OuterRef("pk"), status=StageStatus.FAILED))
        if self.value() == "yes":
            return queryset.filter(failed)
        if self.value() == "no":
            return queryset.filter(~failed)
        return queryset


class StageInline(admin.TabularInline[Stage, StreamingJob]):
    model = Stage
    extra = 0
    can_delete = False
    fields = tuple(STAGE_FIELDS)
    readonly_fields = STAGE_FIELDS
    ordering = ["position"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="duration")
    def duration(self, stage: Stage) -> str:
        return duration_label(stage.duration_s() if stage.started_at else None)

    @admin.display(description="tokens")
    def tokens(self, stage: Stage) -> str:
        return tokens_in_out_label(stage.tokens_in, stage.tokens_out, stage.tokens_cached)

    @admin.display(description="cost")
    def cost(self, stage: Stage) -> str:
        return stage_cost(stage).label if stage.attempts else NO_VALUE

    @admin.display(description="output")
    def output_preview(self, stage: Stage) -> str:
        # The admin escapes it: model output is shown as text, never as HTML.
        return Truncator(stage.output).chars(OUTPUT_PREVIEW_CHARS)


def _run_action(
    admin_obj: StreamingJobAdmin,
    request: HttpRequest,
    streams: QuerySet[StreamingJob],
    verb: str,
    act: Callable[[StreamingJob], object],
) -> None:
    """Apply ``act`` to each stream; say how many worked and why the others did not."""
    done, problems = 0, []
    for stream in streams:
        try:
            act(stream)
        except services.ServiceError as exc:
            problems.append(f"{stream.title or stream.pk}: {exc.message}")
        else:
            done += 1
    if done:
        noun = "stream" if done == 1 else "streams"
        admin_obj.message_user(request, f"{verb} {done} {noun}.", messages.SUCCESS)
    for problem in problems:
        admin_obj.message_user(request, f"Not {verb.lower()}: {problem}", messages.WARNING)


@admin.register(StreamingJob)
class StreamingJobAdmin(admin.ModelAdmin[StreamingJob]):
    list_display = [
        "short_id", "title", "type", "owner", "status", "progress_pct", "current_stage",
        "cost", "duration", "has_failed", "created_at", "links",
    ]
    list_display_links = ["short_id", "title"]
    list_filter = [
        "status",
        "type",
        "created_at",
        HasFailedStageFilter,
        ("owner", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["title", "owner__username", "owner__email"]
    search_help_text = "A stream or job id, a job title, or an owner's username or email."
    list_select_related = ["owner"]
    list_per_page = 50
    actions = ["resume_streams", "cancel_streams", "retry_failed_stages"]
    # Everything is read-only (streams change through the actions above, which keep the
    # runner's invariants); totals are written the one way (reports/domain/formats.py).
    fields = (
        "id", "type", "job_id", "owner", "requested_by", "title", "status", "progress",
        "current_stage", "links", "error_kind", "error", "input_data", "instructions",
        "forked_from", "fork_stage", "tokens", "cost", "cache_saving", "cost_complete",
        "budget_usd", "offline_model", "seq", "runs", "lease_owner", "lease_expires_at",
        "heartbeat_at", "enqueued_at", "waiting_for_slot", "cancel_requested",
        "cancel_reason", "created_at", "started_at", "finished_at",
    )
    readonly_fields = fields
    inlines = [StageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StreamingJob]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                run_time=ExpressionWrapper(
                    F("finished_at") - F("started_at"), output_field=DurationField()
                ),
                failed_stage=Exists(
                    Stage.objects.filter(stream=OuterRef("pk"), status=StageStatus.FAILED)
                ),
                report_pk=Subquery(
                    Report.objects.filter(stream=OuterRef("pk"))
                    .order_by("-version")
                    .values("pk")[:1]
                ),
            )
            .prefetch_related("stages")  # the cost column reads them (one rule)
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[StreamingJob], search_term: str
    ) -> tuple[QuerySet[StreamingJob], bool]:
        """A whole stream id or job id finds its stream; other words search the text."""
        pk = parse_uuid(search_term.strip())
        if pk is not None:
            return queryset.filter(Q(pk=pk) | Q(job_id=pk)), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # streams are made by Generate, with their stages

    # --- columns ----------------------------------------------------------------
    @admin.display(description="stream", ordering="pk")
    def short_id(self, stream: StreamingJob) -> str:
        return str(stream.pk)[:8]

    @admin.display(description="progress", ordering="progress")
    def progress_pct(self, stream: StreamingJob) -> str:
        return f"{stream.progress}%"

    @admin.display(description="cost", ordering="cost_usd")
    def cost(self, stream: StreamingJob) -> str:
        return stream_cost(stream, list(stream.stages.all())).label

    @admin.display(description="tokens")
    def tokens(self, stream: StreamingJob) -> str:
        return tokens_in_out_label(stream.tokens_in, stream.tokens_out, stream.tokens_cached)

    @admin.display(description="saved by prompt caching")
    def cache_saving(self, stream: StreamingJob) -> str:
        return usd_label(stream.cache_saved_usd) if stream.cache_saved_usd else NO_VALUE

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        # Nothing on the page is editable: no Save buttons that would do nothing.
        extra = {**(extra_context or {}), "show_save": False,
                 "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="duration", ordering="run_time")
    def duration(self, stream: StreamingJob) -> str:
        # Running streams have no run_time yet: measure them up to now.
        return duration_label(stream.duration_s())

    @admin.display(description="failed stage", boolean=True, ordering="failed_stage")
    def has_failed(self, stream: StreamingJob) -> bool:
        return bool(getattr(stream, "failed_stage", False))

    @admin.display(description="links")
    def links(self, stream: StreamingJob) -> str:
        items = [(stream.get_absolute_url(), "live page")]
        report_pk = getattr(stream, "report_pk", None)  # annotated by get_queryset
        if report_pk is not None:
            items.append((reverse("reports:report_detail", args=[report_pk]), "report"))
        return format_html_join(" · ", '<a href="{}">{}</a>', items)

    # --- repair actions -----------------------------------------------------------
    @admin.action(description="Resume selected streams")
    def resume_streams(self, request: HttpRequest, queryset: QuerySet[StreamingJob]) -> None:
        def resume(stream: StreamingJob) -> None:
            lease = stream.lease_expires_at
            if stream.is_generating and lease is not None and lease > timezone.now():
                raise services.Conflict("it is already running.")
            services.resume_job(stream_id=stream.pk, user=request.user)

        _run_action(self, request, queryset, "Resumed", resume)

    @admin.action(description="Cancel selected streams")
    def cancel_streams(self, request: HttpRequest, queryset: QuerySet[StreamingJob]) -> None:
        def cancel(stream: StreamingJob) -> None:
            if not stream.is_generating:
                raise services.Conflict(f"it is already {stream.status}.")
            services.cancel_job(stream_id=stream.pk, user=request.user, reason="admin")

        _run_action(self, request, queryset, "Cancelled", cancel)

    @admin.action(description="Retry failed stages of selected streams")
    def retry_failed_stages(self, request: HttpRequest, queryset: QuerySet[StreamingJob]) -> None:
        first_failed: dict[Any, str] = {}
        failed = Stage.objects.filter(stream__in=queryset, status=StageStatus.FAILED)
        for stream_id, key in failed.order_by("-position").values_list("stream_id", "key"):
            first_failed[stream_id] = key  # the earliest failed stage wins

        def retry(stream: StreamingJob) -> None:
            key = first_failed.get(stream.pk)
            if key is None:
                raise services.Conflict("it has no failed stage.")
            # Retrying the earliest failed stage also reruns every unfinished one.
            services.retry_stage(stream_id=stream.pk, key=key, user=request.user)

        _run_action(self, request, queryset, "Retried", retry)


@admin.register(StageAttempt)
class StageAttemptAdmin(admin.ModelAdmin[StageAttempt]):
    list_display = [
        "stage", "number", "status", "model", "structured", "error_kind", "tokens_in",
        "tokens_out", "tokens_cached", "tokens_cache_write", "cost_usd", "started_at",
    ]
    list_filter = ["status", "error_kind", "structured", "model"]
    list_select_related = ["stage"]
    search_fields = ["stage__key", "error"]
    readonly_fields = [f.name for f in StageAttempt._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ReportJob)
class ReportJobAdmin(admin.ModelAdmin[ReportJob]):
    list_display = ["title", "client", "owner", "created_at"]
    search_fields = ["title", "client", "owner__username"]
    list_select_related = ["owner"]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin[Report]):
    list_display = ["title", "version", "reason", "job_type", "owner", "created_at", "downloads"]
    list_filter = ["job_type", "reason", "created_at"]
    search_fields = ["title", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["stream", "created_by"]
    readonly_fields = ["version", "reason", "changed_stages", "provenance", "downloads"]

    @admin.display(description="Download")
    def downloads(self, report: Report) -> SafeString:
        return format_html_join(
            " · ", '<a href="{}" download>{}</a>',
            ((reverse("api:export_report", args=[report.pk, fmt]), fmt.upper())
             for fmt in ("md", "html", "pdf", "docx")),
        )
