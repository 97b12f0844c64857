"""What every job type's pages share: finding the user's job and starting a run."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest

from reports.domain.config import config
from reports.models import BaseJob
from reports.streams import services
from reports.streams.selectors import job_for_user
from reports.streams.services import ServiceError
from reports.web.limits import check_creation_rate

Job = TypeVar("Job", bound=BaseJob)


def job_or_404(request: HttpRequest, job_model: type[Job], job_id: str) -> Job:
    """The user's job (or any job, for staff); 404 for everyone else."""
    job = job_for_user(job_model, job_id, request.user)
    if job is None:
        raise Http404(f"No such {job_model._meta.verbose_name}.")
    return job


def offline_model_from(request: HttpRequest) -> str:
    """The ``X-Offline-Model`` header, where ``OFFLINE_MODEL_HEADER`` lets a request
    choose the offline model's speed and faults for its stream (demos, tests)."""
    if not config().offline_model_header:
        return ""
    return request.headers.get("X-Offline-Model", "")


def generate(
    request: HttpRequest, job: BaseJob, *, budget_usd: Decimal | None = None,
    review_after: list[str] | None = None,
) -> None:
    """Start (or regenerate) the job (``budget_usd``: its cap, else the site's;
    ``review_after``: its review points); a refusal becomes a message on the next page."""
    try:
        services.create_streaming_job(
            job_id=job.pk,
            user=request.user,
            type=job.job_type,
            offline_model=offline_model_from(request),
            budget_usd=budget_usd,
            review_after=review_after,
            before_create=lambda: check_creation_rate(request),
        )
    except ServiceError as exc:
        messages.error(request, exc.message)
