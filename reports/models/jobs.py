"""Domain jobs: what a user asked for. Job types subclass ``BaseJob``."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from reports.domain.limits import JOB_FIELD_MAX_LENGTH, JOB_TITLE_MAX_LENGTH
from reports.models.streams import StreamingJob, StreamingJobQuerySet


class BaseJob(models.Model):
    """A domain job: what a user asked for. Job types subclass this."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="%(class)ss"
    )
    title = models.CharField(max_length=JOB_TITLE_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The pipeline type this job belongs to (set by each subclass).
    job_type: str = ""
    # Fields copied into a stream's input snapshot.
    input_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        """The job's page (each job type names its own)."""
        raise NotImplementedError

    def input_data(self) -> dict[str, Any]:
        """The inputs a generation run works from (snapshotted into the stream)."""
        return {"title": self.title, **{name: getattr(self, name) for name in self.input_fields}}

    def streams(self) -> StreamingJobQuerySet:
        return StreamingJob.objects.filter(type=self.job_type, job_id=self.pk)

    def latest_stream(self) -> StreamingJob | None:
        return self.streams().order_by("-created_at").first()


class ReportJob(BaseJob):
    """A client report: the generic job type of the core."""

    client = models.CharField("client / organisation", max_length=200)
    objective = models.TextField(max_length=JOB_FIELD_MAX_LENGTH)
    audience = models.CharField(max_length=300, blank=True)
    context_notes = models.TextField(max_length=JOB_FIELD_MAX_LENGTH, blank=True)
    constraints = models.TextField(max_length=JOB_FIELD_MAX_LENGTH, blank=True)

    job_type = "report"
    input_fields = ("client", "objective", "audience", "context_notes", "constraints")

    class Meta(BaseJob.Meta):
        verbose_name = "client report job"

    def get_absolute_url(self) -> str:
        return reverse("client_report:job_detail", args=[self.pk])
