"""The streaming core's tables: domain jobs, streams, their stages and reports."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from reports.domain.events import stream_group
from reports.domain.limits import JOB_TITLE_MAX_LENGTH
from reports.models.access import is_staff, visible_to
from reports.models.sources import StageSource

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class StreamStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # Stopped after a review stage until its owner approves, edits or reruns it: not
    # active (it holds no runner, lease or slot).
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"


ACTIVE_STATUSES = (StreamStatus.PENDING, StreamStatus.RUNNING)
RESUMABLE_STATUSES = (StreamStatus.FAILED, StreamStatus.CANCELLED)


class StageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class StreamingJobQuerySet(models.QuerySet["StreamingJob"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> StreamingJobQuerySet:
        """Streams the user may see: their own, or all of them for staff."""
        return visible_to(self, user)

    def active(self) -> StreamingJobQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)

    def for_job(self, job_type: str, job_id: uuid.UUID | str) -> StreamingJobQuerySet:
        return self.filter(type=job_type, job_id=job_id)

    def needing_recovery(self, *, now: Any = None, pending_grace: float = 60.0) -> Any:
        """Active streams nobody is running: an expired lease, or never claimed."""
        now = now or timezone.now()
        # A stream waiting for its owner's slot is not lost: admission hands it out.
        return self.active().filter(waiting_for_slot=False).filter(
            Q(lease_expires_at__lt=now)
            | Q(
                lease_expires_at__isnull=True,
                enqueued_at__lt=now - timedelta(seconds=pending_grace),
            )
            | Q(lease_expires_at__isnull=True, enqueued_at__isnull=True)
        )


class StreamingJob(models.Model):
    """One generation run of a job ("stream"): its plan, lease, totals and status."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, db_index=True)
    job_id = models.UUIDField(db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="streams"
    )
    title = models.CharField(max_length=JOB_TITLE_MAX_LENGTH, blank=True)
    input_data = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=StreamStatus.choices, default=StreamStatus.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    current_stage = models.CharField(max_length=64, blank=True)
    error_kind = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)

    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    # Of tokens_in: served from the provider's prompt cache.
    tokens_cached = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    # What prompt caching saved against paying every input token at the input rate.
    cache_saved_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    # False once any attempt's cost could not be known (usage missing, unpriced model).
    cost_complete = models.BooleanField(default=True)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    # What it was forecast to cost and take when it was created (``POST /api/forecast/``'s
    # answer, reports/streams/forecast.py): analytics compares it with what it cost.
    forecast = models.JSONField(null=True, blank=True)
    # Review points: the stages after which it waits for its owner (``review_after``),
    # and those of them the owner approved or edited (``reviewed``).
    review_after = models.JSONField(default=list, blank=True)
    reviewed = models.JSONField(default=list, blank=True)

    # Live-update sequence: the runner keeps it in memory and checkpoints it.
    seq = models.BigIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0, help_text="How many times a runner claimed it.")
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Saved but not yet handed to a runner: its owner has no free slot
    # (MAX_ACTIVE_STREAMS_PER_USER, reports/runtime/admission.py).
    waiting_for_slot = models.BooleanField(default=False, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=32, blank=True)
    # Who asked for the latest run (the owner, or staff acting for them).
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    # A fork: a new stream of the same job whose stages before ``fork_stage`` were
    # copied from ``forked_from``; ``instructions`` go to every stage it runs.
    forked_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="forks"
    )
    fork_stage = models.CharField(max_length=64, blank=True)
    instructions = models.TextField(blank=True)
    # The offline model's speed and faults for this stream alone ("rate=400
    # faults=outline:auth:1"; empty: the settings'): reports/providers/offline.py.
    offline_model = models.CharField(max_length=200, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = StreamingJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "stream"
        constraints = [
            # At most one active stream per job, enforced by the database.
            models.UniqueConstraint(
                fields=["type", "job_id"],
                condition=Q(status__in=["pending", "running"]),
                name="one_active_stream_per_job",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.title or self.job_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("reports:stream_detail", args=[self.pk])

    @property
    def stream_id(self) -> uuid.UUID:
        return self.id

    @property
    def is_generating(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_completed(self) -> bool:
        return self.status == StreamStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.status == StreamStatus.FAILED

    @property
    def is_resumable(self) -> bool:
        return self.status in RESUMABLE_STATUSES

    @property
    def group_name(self) -> str:
        return stream_group(self.id)

    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())

    def has_live_lease(self, now: datetime | None = None) -> bool:
        """A runner holds the stream: its lease is set and not yet expired."""
        expires = self.lease_expires_at
        return expires is not None and expires >= (now or timezone.now())

    def is_unattended(self, now: datetime | None = None) -> bool:
        """Active, but no runner holds a live lease: resume and retry may restart it.

        Includes a pending stream no worker has claimed yet (its enqueue may be lost),
        the same test as the conditional UPDATE that restarts it.
        """
        return self.is_generating and not self.has_live_lease(now)

    def is_interrupted(self, now: datetime | None = None) -> bool:
        """Running, but its runner stopped renewing the lease: pages say "Recovering".

        Narrower than ``is_unattended``: a pending stream waiting for a worker, or one
        never leased, is not shown as interrupted.
        """
        expires = self.lease_expires_at
        return (
            self.status == StreamStatus.RUNNING
            and expires is not None
            and expires < (now or timezone.now())
        )

    def review_gates(self, stages: Iterable[Stage]) -> list[str]:
        """The review stages that are written and wait for their owner's review: no stage
        that depends on them starts until then."""
        done = {s.key for s in stages if s.status == StageStatus.COMPLETED}
        return [k for k in self.review_after or [] if k in done and k not in (self.reviewed or [])]

    def can_be_seen_by(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        return bool(user.is_authenticated and (self.owner_id == user.pk or is_staff(user)))


class StageQuerySet(models.QuerySet["Stage"]):
    def in_order(self) -> StageQuerySet:
        return self.order_by("position")


class Stage(models.Model):
    """One step of a stream's pipeline; all rows are created with the stream."""

    stream = models.ForeignKey(StreamingJob, on_delete=models.CASCADE, related_name="stages")
    key = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField()
    weight = models.FloatField(default=1.0)
    depends_on = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=StageStatus.choices, default=StageStatus.PENDING, db_index=True
    )
    # The text so far while running (checkpointed about once a second), final when done.
    output = models.TextField(blank=True)
    data = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Attempts that asked again because the answer did not fit the stage's shape.
    reasks = models.PositiveSmallIntegerField(default=0)
    error_kind = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    model = models.CharField(max_length=120, blank=True)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    # Input tokens the provider served from its prompt cache.
    tokens_cached = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    cache_saved_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    # Its text stopped at the output limit (after the continuations it was allowed): kept,
    # and marked so on the card, in the document and in every export.
    cut_off = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # This run's model (or assembly), a person's edit, or copied from the forked stream.
    source = models.CharField(max_length=8, choices=StageSource.choices, default="model")
    # A person's instructions for this stage's next run (a review's "rerun").
    instructions = models.TextField(blank=True)

    objects = StageQuerySet.as_manager()

    class Meta:
        ordering = ["stream", "position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "key"], name="unique_stage_key_per_stream")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return max(0.0, (end - self.started_at).total_seconds())


class AttemptStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class StageAttempt(models.Model):
    """One call to the model for a stage: what it cost and how it ended."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.RUNNING
    )
    model = models.CharField(max_length=120, blank=True)
    # The provider was sent the stage's JSON schema (structured output), not told in
    # the prompt.
    structured = models.BooleanField(default=False)
    error_kind = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    # Of tokens_in: read from the prompt cache, and written to it.
    tokens_cached = models.BigIntegerField(default=0)
    tokens_cache_write = models.BigIntegerField(default=0)
    # The text this attempt received: an answer that was rejected or cut off is kept.
    output = models.TextField(blank=True)
    usage_known = models.BooleanField(default=False)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stage", "number"]

    def __str__(self) -> str:
        return f"{self.stage.key} attempt {self.number} ({self.status})"


class ReportQuerySet(models.QuerySet["Report"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> ReportQuerySet:
        """Documents the user may see: their own, or all of them for staff."""
        return visible_to(self, user)


class VersionReason(models.TextChoices):
    GENERATE = "generate", "Generated"
    REGENERATE = "regenerate", "Regenerated"
    RETRY = "retry", "Stage retried"
    FORK = "fork", "Forked"
    EDIT = "edit", "Edited"


class Report(models.Model):
    """One version of an assembled document; a new row for every completed generation,
    stage retry and fork, never overwritten. ``stream`` is empty for legacy or imported
    reports."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    job_type = models.CharField(max_length=40)
    job_id = models.UUIDField(null=True, blank=True, db_index=True)
    stream = models.ForeignKey(
        StreamingJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    version = models.PositiveIntegerField(default=1)
    reason = models.CharField(
        max_length=16, choices=VersionReason.choices, default=VersionReason.GENERATE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    title = models.CharField(max_length=300)
    markdown = models.TextField()
    # What this version changed: the stages that ran for it, and what they spent.
    changed_stages = models.JSONField(default=list, blank=True)
    tokens_in = models.BigIntegerField(default=0)
    tokens_out = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    # Per stage, as it stood when this version was made (reports.documents.provenance).
    provenance = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["job_type", "job_id", "version"],
                condition=Q(job_id__isnull=False),
                name="one_report_per_job_version",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def get_absolute_url(self) -> str:
        return reverse("reports:report_detail", args=[self.pk])
