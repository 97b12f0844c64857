"""Reads for the starmap pages: a user's jobs as cards, one job with its versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import reverse

from reports.models import BaseJob, Report
from reports.web.cards import JobCard, job_cards
from starmap.models import OrganisationSize, StarmapJob

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

MAX_CARDS = 60
SIZES = dict(OrganisationSize.choices)


def subtitle(job: BaseJob) -> str:
    """The line under the title: organisation, industry and size."""
    assert isinstance(job, StarmapJob)
    size = str(SIZES.get(job.size, ""))
    return " · ".join(part for part in (job.organisation, job.industry, size) if part)


def generate_url(job: BaseJob) -> str:
    """Where the card's Generate/Regenerate posts."""
    return reverse("starmap:job_generate", args=[job.pk])


def cards_for(
    user: AbstractBaseUser | AnonymousUser, jobs: list[StarmapJob] | None = None
) -> list[JobCard]:
    """The user's starmaps (newest first), each with its latest stream and report."""
    if jobs is None:
        jobs = list(StarmapJob.objects.filter(owner_id=user.pk).order_by("-created_at")[:MAX_CARDS])
    return job_cards(jobs, subtitle=subtitle, generate_url=generate_url)


def versions(job: StarmapJob) -> list[Report]:
    """Every document made for the job, newest first (legacy ones included)."""
    return list(
        Report.objects.filter(job_type=StarmapJob.job_type, job_id=job.pk).order_by("-created_at")
    )
