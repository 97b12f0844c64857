"""Pages of the core: the live stream page, documents, sign-up; htmx stream actions.

Job types add their own pages (``reports/client_report/``, ``starmap/``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from reports.documents.contents import document_page
from reports.documents.exports import file_name
from reports.documents.provenance import models_of
from reports.documents.versions import versions_of
from reports.live.fragments import editable_keys, progress_context
from reports.models import Report, StreamingJob
from reports.pipelines import UnknownJobType, get_pipeline
from reports.streams import services
from reports.streams.reviews import review_stage
from reports.streams.selectors import report_for_user, stream_for_user
from reports.streams.services import ServiceError
from reports.web.accounts import remember_signed_up
from reports.web.downloads import attachment
from reports.web.forms import SignupForm

PROGRESS_TEMPLATE = "reports/_progress.html"


class AuthedRequest(HttpRequest):
    """A request behind login_required, with django-htmx's details."""

    user: User
    htmx: HtmxDetails


EXPORT_LABELS = {"md": "Markdown", "html": "HTML (one file)", "pdf": "PDF", "docx": "Word (DOCX)"}

@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.taken:
            # As much work as creating an account, so the answer takes as long.
            make_password(form.cleaned_data["password1"])
        else:
            form.save()
        # The same answer either way: whether the username existed is not ours to say.
        messages.success(request, "Your account is ready. Log in to start your first report.")
        remember_signed_up(request, form.cleaned_data["username"])
        return redirect(f"{reverse('login')}?next={reverse('client_report:job_create')}")
    return render(request, "registration/signup.html", {"form": form})


@require_GET
@login_required
def stream_detail(request: AuthedRequest, stream_id: str) -> HttpResponse:
    stream = stream_for_user(stream_id, request.user)
    if stream is None:
        raise Http404("No such stream.")
    try:
        pipeline_title = get_pipeline(stream.type).title
    except UnknownJobType:
        pipeline_title = stream.type
    return render(
        request, "reports/stream_detail.html", {"stream": stream, "pipeline_title": pipeline_title}
    )


def _act(
    request: AuthedRequest, stream_id: str, action: Callable[[], StreamingJob]
) -> HttpResponse:
    """Run a stream action; answer with the progress component (htmx) or a redirect.
    An action that does not apply shows why, on the card or as a message."""
    try:
        stream = action()
    except services.NotFound:
        raise Http404("No such stream.") from None
    except ServiceError as exc:
        found = stream_for_user(stream_id, request.user)
        if found is None:
            raise Http404("No such stream.") from None
        if request.htmx:
            context = {**progress_context(found), "notice": exc.message}
            return render(request, PROGRESS_TEMPLATE, context)
        messages.error(request, exc.message)
        return redirect(found)
    if request.htmx:
        return render(request, PROGRESS_TEMPLATE, progress_context(stream))
    return redirect(stream)


@require_POST
@login_required
def stream_resume(request: AuthedRequest, stream_id: str) -> HttpResponse:
    """Resume; the card's form after a budget stop sends a higher ``budget_usd``."""

    def resume() -> StreamingJob:
        budget = services.budget_from(request.POST.get("budget_usd") or None)
        return services.resume_job(stream_id=stream_id, user=request.user, budget_usd=budget)

    return _act(request, stream_id, resume)


@require_POST
@login_required
def stream_cancel(request: AuthedRequest, stream_id: str) -> HttpResponse:
    return _act(
        request, stream_id, lambda: services.cancel_job(stream_id=stream_id, user=request.user)
    )


@require_POST
@login_required
def stage_review(request: AuthedRequest, stream_id: str, key: str) -> HttpResponse:
    """The card's review form: approve, save the edited text (a JSON stage's is checked
    against its shape) or write the stage again with instructions."""
    return _act(
        request,
        stream_id,
        lambda: review_stage(
            stream_id=stream_id, key=key, user=request.user,
            action=request.POST.get("action", ""), text=request.POST.get("text"),
            instructions=request.POST.get("instructions", ""),
        ),
    )


@require_POST
@login_required
def stage_retry(request: AuthedRequest, stream_id: str, key: str) -> HttpResponse:
    return _act(
        request,
        stream_id,
        lambda: services.retry_stage(stream_id=stream_id, key=key, user=request.user),
    )

@require_GET
@login_required
def report_detail(request: AuthedRequest, report_id: str) -> HttpResponse:
    report = report_for_user(report_id, request.user)
    if report is None:
        raise Http404("No such report.")
    context = {
        "report": report,
        "document": document_page(report.markdown),
        "models": models_of(report),
        "edited": [e["title"] for e in report.provenance or [] if e.get("source") == "edited"],
        "editable": editable_stages(report),
        "versions": versions_of(report, request.user),
        "export_formats": EXPORT_LABELS.items(),
    }
    return render(request, "reports/report_detail.html", context)


def editable_stages(report: Report) -> list[tuple[str, str]]:
    """``(key, title)`` of the stages of the version's stream a person may edit (none
    while a stream of its job generates, or for a document made before streaming)."""
    if not report.stream_id or not report.job_id:
        return []
    if StreamingJob.objects.active().for_job(report.job_type, report.job_id).exists():
        return []
    keys = editable_keys(report.job_type)
    return [(e["key"], e["title"]) for e in report.provenance or [] if e["key"] in keys]


@require_GET
@login_required
def report_download(request: AuthedRequest, report_id: str) -> HttpResponse:
    report = report_for_user(report_id, request.user)
    if report is None:
        raise Http404("No such report.")
    return attachment(report.markdown, "text/markdown; charset=utf-8",
                      file_name(report.title, "md"))
