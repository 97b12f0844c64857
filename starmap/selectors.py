"""Reads for the starmap pages: a user's jobs as cards, one job with its versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.urls import reverse

from reports.models import BaseJob
from reports.web.cards import JobCard, job_cards
from reports.web.job_lists import ListFilter
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


def duplicate_url(job: BaseJob) -> str:
    return reverse("starmap:job_duplicate", args=[job.pk])


def delete_url(job: BaseJob) -> str:
    return reverse("starmap:job_delete", args=[job.pk])


def cards_for(
    user: AbstractBaseUser | AnonymousUser,
    jobs: list[StarmapJob] | None = None,
    filters: ListFilter | None = None,
) -> list[JobCard]:
    """The user's starmaps (newest first, those ``filters`` let through), each with its
    latest stream and report."""
    if jobs is None:
        mine = StarmapJob.objects.filter(owner_id=user.pk)
        if filters is not None:
            mine = filters.apply(mine, StarmapJob.job_type)
        jobs = list(mine.order_by("-created_at")[:MAX_CARDS])
    return job_cards(jobs, subtitle=subtitle, generate_url=generate_url,
                     duplicate_url=duplicate_url, delete_url=delete_url)
