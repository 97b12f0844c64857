"""Starmap pages: the job cards, a short create form, one starmap; htmx actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget
from django_htmx.middleware import HtmxDetails

from reports.streams import services
from reports.streams.services import ServiceError
from reports.web.cards import live_stream_ids
from reports.web.jobs import generate, job_or_404
from starmap import selectors
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
    """The user's starmaps as live cards (one socket for the page) and the short form."""
    cards = selectors.cards_for(request.user)
    stream_ids = live_stream_ids(cards)
    return render(
        request,
        "starmap/job_list.html",
        {"cards": cards, "stream_ids": stream_ids, "form": StarmapJobForm()},
    )


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
        generate(request, job)
    if not request.htmx:
        messages.success(request, f"Starmap \"{job.title}\" created.")
        return redirect("starmap:job_list")
    card = _render_card(request, job)
    fresh = render_to_string(FORM_PARTIAL, {"form": StarmapJobForm(), "oob": True}, request)
    return HttpResponse(card + fresh)


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
        "versions": selectors.versions(job),
        "card": selectors.cards_for(request.user, jobs=[job])[0],
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
