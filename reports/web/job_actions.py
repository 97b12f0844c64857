"""Delete (after a confirmation) and duplicate, for any job type's pages.

Only the owner may do either: anyone else, staff included, gets a 404 here (staff have
the admin). Both are POSTs with the CSRF token; GET on delete shows the confirmation.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from reports.models import ACTIVE_STATUSES, BaseJob
from reports.streams.jobs import job_delete, job_duplicate
from reports.streams.selectors import parse_uuid
from reports.streams.services import ServiceError

Job = TypeVar("Job", bound=BaseJob)


def owned_job_or_404(request: HttpRequest, job_model: type[Job], job_id: str) -> Job:
    """The signed-in user's own job; 404 for everyone else."""
    pk = parse_uuid(job_id)
    job = job_model._default_manager.filter(pk=pk, owner_id=request.user.pk).first() if pk else None
    if job is None:
        raise Http404(f"No such {job_model._meta.verbose_name}.")
    return job


def delete_page(
    request: HttpRequest, job_model: type[BaseJob], job_id: str, *, list_url: str, noun: str
) -> HttpResponse:
    """GET: what deleting removes, and the button; POST: delete, back to the list."""
    job = owned_job_or_404(request, job_model, job_id)
    context = {
        "job": job,
        "noun": noun,
        "list_url": list_url,
        "generating": job.streams().filter(status__in=ACTIVE_STATUSES).exists(),
        "runs": job.streams().count(),
    }
    if request.method == "POST":
        try:
            job_delete(job=job)
        except ServiceError as exc:
            context.update(error=exc.message, generating=True)
            return render(request, "reports/job_delete.html", context, status=exc.status)
        messages.success(request, f"Deleted “{job.title}”.")
        return redirect(list_url)
    return render(request, "reports/job_delete.html", context)


def duplicate(request: HttpRequest, job_model: type[BaseJob], job_id: str) -> HttpResponse:
    """A copy with the same inputs, not generated: its page, ready to Generate."""
    job = owned_job_or_404(request, job_model, job_id)
    try:
        copy = job_duplicate(job=job, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(job.get_absolute_url())
    messages.success(
        request, f"Duplicated “{job.title}”. Nothing is generated until you press Generate."
    )
    return redirect(copy.get_absolute_url())
