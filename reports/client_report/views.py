"""Client-report pages: the job cards, the create form, one job; htmx actions."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from reports.client_report.forms import ReportJobForm
from reports.client_report.pipeline import PIPELINE
from reports.documents.versions import job_versions
from reports.live.fragments import progress_context
from reports.models import BaseJob, ReportJob
from reports.streams import services
from reports.streams.services import ServiceError
from reports.web import job_actions
from reports.web.cards import JobCard, job_cards, live_stream_ids
from reports.web.forks import with_previous
from reports.web.job_lists import ListFilter
from reports.web.jobs import generate, job_or_404

CARD_TEMPLATE = "reports/_card.html"


class HtmxHttpRequest(HttpRequest):
    """A signed-in request after django-htmx's middleware (the typing its docs recommend)."""

    user: User
    htmx: HtmxDetails


def _cards(jobs: list[ReportJob]) -> list[JobCard]:
    """Report jobs as the shared job cards (``reports/_card.html``)."""

    def generate_url(job: BaseJob) -> str:
        return reverse("client_report:job_generate", args=[job.pk])

    def url(name: str) -> Callable[[BaseJob], str]:
        return lambda job: reverse(f"client_report:{name}", args=[job.pk])

    return job_cards(jobs, subtitle=lambda job: str(getattr(job, "client", "")),
                     generate_url=generate_url, duplicate_url=url("job_duplicate"),
                     delete_url=url("job_delete"))


@require_GET
@login_required
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    """The user's reports as live cards; ``?q=`` searches titles, ``?status=`` filters."""
    filters = ListFilter.from_query(request.GET)
    mine = ReportJob.objects.filter(owner=request.user)
    jobs = filters.apply(mine, ReportJob.job_type)
    cards = _cards(list(jobs.order_by("-created_at")[:100]))
    context = {"cards": cards, "stream_ids": live_stream_ids(cards),
               "has_jobs": bool(cards) or mine.exists(), **filters.context("report")}
    return render(request, "client_report/job_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def job_delete(request: HttpRequest, job_id: str) -> HttpResponse:
    """Confirm, then delete the report with its runs and documents (owner only)."""
    return job_actions.delete_page(request, ReportJob, job_id, noun="report",
                                   list_url=reverse("client_report:job_list"))


@require_POST
@login_required
def job_duplicate(request: HttpRequest, job_id: str) -> HttpResponse:
    """A copy with the same brief, not generated (owner only)."""
    return job_actions.duplicate(request, ReportJob, job_id)


@require_http_methods(["GET", "POST"])
@login_required
def job_create(request: HttpRequest) -> HttpResponse:
    form = ReportJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # The same service as POST /api/streams/: one validation path.
            job = services.job_create(pipeline=PIPELINE, user=request.user,
                                      input_data=form.input_data)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            assert isinstance(job, ReportJob)
            if "generate" in request.POST:
                generate(request, job, budget_usd=form.budget_usd,
                         review_after=form.review_after)
            return redirect(job)
    return render(request, "client_report/job_form.html", {"form": form})


@require_GET
@login_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = job_or_404(request, ReportJob, job_id)
    versions = with_previous(list(job_versions(request.user, job.pk, job.job_type)))
    context = {"job": job, "stream": job.latest_stream(), "versions": versions}
    return render(request, "client_report/job_detail.html", context)


@require_POST
@login_required
def job_generate(request: HtmxHttpRequest, job_id: str) -> HttpResponse:
    """Generate (or regenerate: earlier documents stay) and show the card or the page."""
    job = job_or_404(request, ReportJob, job_id)
    generate(request, job)
    if request.htmx and request.htmx.target == f"card-{job.pk}":
        return render(request, CARD_TEMPLATE, {"card": _cards([job])[0]})
    if request.htmx:
        stream = job.latest_stream()
        if stream is not None:
            return render(request, "reports/_progress.html", progress_context(stream))
    return redirect(job)
