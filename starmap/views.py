"""Starmap pages: the job cards, a short create form, one starmap; htmx actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event
from django_htmx.middleware import HtmxDetails

from reports.documents.versions import job_versions
from reports.streams import services
from reports.streams.services import ServiceError
from reports.web import job_actions
from reports.web.cards import live_stream_ids
from reports.web.forks import with_previous
from reports.web.job_lists import ListFilter
from reports.web.jobs import generate, job_or_404
from starmap import inputs, selectors
from starmap.forms import StarmapJobForm
from starmap.models import StarmapJob
from starmap.pipeline import PIPELINE

CARD_TEMPLATE = "reports/_card.html"
FORM_PARTIAL = "starmap/job_list.html#create-form"


class HtmxHttpRequest(HttpRequest):
    """A request after django-htmx's middleware (the typing its docs recommend)."""

    htmx: HtmxDetails


@require_GET
@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    """The user's starmaps as live cards (one socket for the page) and the short form;
    ``?q=`` searches titles, ``?status=`` filters by the latest run's status."""
    filters = ListFilter.from_query(request.GET)
    cards = selectors.cards_for(request.user, filters=filters)
    stream_ids = live_stream_ids(cards)
    has_jobs = bool(cards) or StarmapJob.objects.filter(owner_id=request.user.pk).exists()
    context = {"cards": cards, "stream_ids": stream_ids, "form": StarmapJobForm(),
               "has_jobs": has_jobs, **filters.context("starmap")}
    return render(request, "starmap/job_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def job_delete(request: HttpRequest, job_id: str) -> HttpResponse:
    """Confirm, then delete the starmap with its runs and documents (owner only)."""
    return job_actions.delete_page(request, StarmapJob, job_id, noun="starmap",
                                   list_url=reverse("starmap:job_list"))


@require_POST
@login_required
def job_duplicate(request: HttpRequest, job_id: str) -> HttpResponse:
    """A copy with the same brief, not generated (owner only)."""
    return job_actions.duplicate(request, StarmapJob, job_id)


@require_http_methods(["GET", "POST"])
@login_required
def job_create(request: HtmxHttpRequest) -> HttpResponse:
    """The short form: htmx adds the new card to the page; without JS, back to the cards."""
    form = StarmapJobForm(request.POST or None)
    if request.method == "GET":
        return render(request, "starmap/job_form.html", {"form": form})
    job = _create(request, form) if form.is_valid() else None
    if job is None:
        if request.htmx:
            response = render(request, FORM_PARTIAL, {"form": form})
            return reswap(retarget(response, "#starmap-form"), "outerHTML")
        return render(request, "starmap/job_form.html", {"form": form})
    if "generate" in request.POST:
        generate(request, job, budget_usd=form.budget_usd, review_after=form.review_after)
    if not request.htmx:
        messages.success(request, f"Starmap \"{job.title}\" created.")
        return redirect("starmap:job_list")
    card = _render_card(request, job)
    fresh = render_to_string(FORM_PARTIAL, {"form": StarmapJobForm(), "oob": True}, request)
    # The page closes the form and brings the new card into view (static/js/forms.js).
    response = HttpResponse(card + fresh)
    return trigger_client_event(response, "card-created", {"id": f"card-{job.pk}"}, after="settle")


def _create(request: HttpRequest, form: StarmapJobForm) -> StarmapJob | None:
    """Save the job through the API's service (one validation path); None if it refused."""
    try:
        job = services.job_create(pipeline=PIPELINE, user=request.user, input_data=form.input_data)
    except ServiceError as exc:
        form.add_error(None, exc.message)
        return None
    assert isinstance(job, StarmapJob)
    return job


def _render_card(request: HttpRequest, job: StarmapJob) -> str:
    card = selectors.cards_for(request.user, jobs=[job])[0]
    return render_to_string(CARD_TEMPLATE, {"card": card}, request)


@require_GET
@login_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    """One starmap: its brief, the latest run in detail, and every version made."""
    job = job_or_404(request, StarmapJob, job_id)
    context = {
        "job": job,
        "stream": job.latest_stream(),
        "versions": with_previous(list(job_versions(request.user, job.pk, job.job_type))),
        "card": selectors.cards_for(request.user, jobs=[job])[0],
        # As the document writes it ("50,000 EUR"), from the same function.
        "budget": inputs.money(job.budget, job.currency) if job.budget else "not set",
    }
    return render(request, "starmap/job_detail.html", context)


@require_POST
@login_required
def job_generate(request: HtmxHttpRequest, job_id: str) -> HttpResponse:
    """Generate (or regenerate: earlier versions stay) and show the card or the page."""
    job = job_or_404(request, StarmapJob, job_id)
    generate(request, job)
    if request.htmx:
        return HttpResponse(_render_card(request, job))
    return redirect(job)
