"""Pages: client-report jobs, the live stream page, reports, sign-up; htmx actions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from reports import live, services
from reports.cards import JobCard, job_cards, live_stream_ids
from reports.forms import ReportJobForm, SignupForm
from reports.models import Report, ReportJob
from reports.pipelines import get_pipeline
from reports.selectors import parse_uuid, report_for_user, stream_for_user
from reports.services import ServiceError


class AuthedRequest(HttpRequest):
    """A request behind login_required, with django-htmx's details."""

    user: User
    htmx: HtmxDetails


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome! Create your first report below.")
        return redirect("reports:job_create")
    return render(request, "registration/signup.html", {"form": form})


@require_GET
@login_required
def job_list(request: AuthedRequest) -> HttpResponse:
    jobs = list(ReportJob.objects.filter(owner=request.user).order_by("-created_at")[:100])
    cards = _cards(jobs)
    return render(
        request, "reports/job_list.html", {"cards": cards, "stream_ids": live_stream_ids(cards)}
    )


def _cards(jobs: list[ReportJob]) -> list[JobCard]:
    """Report jobs as the shared job cards (``reports/_card.html``)."""
    return job_cards(
        jobs,
        subtitle=lambda job: str(getattr(job, "client", "")),
        generate_url=lambda job: reverse("reports:job_generate", args=[job.pk]),
    )


@require_http_methods(["GET", "POST"])
@login_required
def job_create(request: AuthedRequest) -> HttpResponse:
    form = ReportJobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        job = form.save(commit=False)
        job.owner = request.user
        job.save()
        if "generate" in request.POST:
            services.create_streaming_job(job_id=job.pk, user=request.user, type="report")
        return redirect(job)
    return render(request, "reports/job_form.html", {"form": form})


def _job(request: AuthedRequest, job_id: str) -> ReportJob:
    pk = parse_uuid(job_id)
    job = ReportJob.objects.filter(pk=pk).first() if pk else None
    if job is None or not (job.owner_id == request.user.pk or request.user.is_staff):
        raise Http404("No such report job.")
    return job


@require_GET
@login_required
def job_detail(request: AuthedRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    stream = job.latest_stream()
    reports = Report.objects.filter(job_type="report", job_id=job.pk).order_by("-created_at")
    return render(
        request, "reports/job_detail.html", {"job": job, "stream": stream, "reports": reports}
    )


@require_POST
@login_required
def job_generate(request: AuthedRequest, job_id: str) -> HttpResponse:
    job = _job(request, job_id)
    stream, _ = services.create_streaming_job(job_id=job.pk, user=request.user, type=job.job_type)
    if request.htmx and request.htmx.target == f"card-{job.pk}":
        return render(request, "reports/_card.html", {"card": _cards([job])[0]})
    if request.htmx:
        return render(request, "reports/_progress.html", live.progress_context(stream))
    return redirect(job)


@require_GET
@login_required
def stream_detail(request: AuthedRequest, stream_id: str) -> HttpResponse:
    stream = stream_for_user(stream_id, request.user)
    if stream is None:
        raise Http404("No such stream.")
    try:
        pipeline_title = get_pipeline(stream.type).title
    except LookupError:
        pipeline_title = stream.type
    return render(
        request, "reports/stream_detail.html", {"stream": stream, "pipeline_title": pipeline_title}
    )


def _action(request: AuthedRequest, stream_id: str, action: str, key: str = "") -> HttpResponse:
    try:
        if action == "resume":
            stream = services.resume_job(stream_id=stream_id, user=request.user)
        elif action == "cancel":
            stream = services.cancel_job(stream_id=stream_id, user=request.user)
        else:
            stream = services.retry_stage(stream_id=stream_id, key=key, user=request.user)
    except services.NotFound:
        raise Http404("No such stream.") from None
    except ServiceError as exc:
        found = stream_for_user(stream_id, request.user)
        if found is None:
            raise Http404("No such stream.") from None
        if request.htmx:
            context = {**live.progress_context(found), "notice": exc.message}
            return render(request, "reports/_progress.html", context, status=200)
        messages.error(request, exc.message)
        return redirect(found)
    if request.htmx:
        return render(request, "reports/_progress.html", live.progress_context(stream))
    return redirect(stream)


@require_POST
@login_required
def stream_resume(request: AuthedRequest, stream_id: str) -> HttpResponse:
    return _action(request, stream_id, "resume")


@require_POST
@login_required
def stream_cancel(request: AuthedRequest, stream_id: str) -> HttpResponse:
    return _action(request, stream_id, "cancel")


@require_POST
@login_required
def stage_retry(request: AuthedRequest, stream_id: str, key: str) -> HttpResponse:
    return _action(request, stream_id, "retry", key)


@require_GET
@login_required
def report_detail(request: AuthedRequest, report_id: str) -> HttpResponse:
    report = report_for_user(report_id, request.user)
    if report is None:
        raise Http404("No such report.")
    versions = (
        Report.objects.visible_to(request.user)
        .filter(job_type=report.job_type, job_id=report.job_id)
        .exclude(job_id__isnull=True)
        .order_by("-created_at")
        if report.job_id
        else []
    )
    return render(request, "reports/report_detail.html", {"report": report, "versions": versions})


@require_GET
@login_required
def report_download(request: AuthedRequest, report_id: str) -> HttpResponse:
    report = report_for_user(report_id, request.user)
    if report is None:
        raise Http404("No such report.")
    response = HttpResponse(report.markdown, content_type="text/markdown; charset=utf-8")
    filename = (
        "".join(c if c.isalnum() or c in "-_" else "-" for c in report.title)[:80] or "report"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.md"'
    return response
