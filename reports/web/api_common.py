"""What the API's modules share: the error schema, who is asking, the lookups that
answer 404, and the report's JSON form."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django.urls import reverse
from ninja import Schema

from reports.documents.exports import FORMATS
from reports.domain.money import money_str
from reports.domain.rendering import render_markdown
from reports.models import Report, StreamingJob
from reports.streams import services
from reports.streams.selectors import report_for_user, stream_for_user
from reports.streams.snapshot import iso


class ErrorOut(Schema):
    error: str
    message: str
    details: Any = None


class ReportOut(Schema):
    id: str
    title: str
    markdown: str
    html: str
    job_type: str
    job_id: str | None
    stream_id: str | None
    version: int
    reason: str
    exports: dict[str, str]
    created_at: str | None
    updated_at: str | None


def request_user(request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
    """Whoever the authenticator accepted (session user or token owner)."""
    token_user: AbstractBaseUser | None = getattr(request, "auth", None)
    return token_user or request.user


def stream_or_404(request: HttpRequest, stream_id: str) -> StreamingJob:
    stream = stream_for_user(stream_id, request_user(request))
    if stream is None:
        raise services.NotFound(f"No stream {stream_id}.")
    return stream


def report_or_404(request: HttpRequest, report_id: str) -> Report:
    report = report_for_user(report_id, request_user(request))
    if report is None:
        raise services.NotFound(f"No report {report_id}.")
    return report


def export_links(name: str, pk: Any) -> dict[str, str]:
    """``{fmt: url}`` of every export format (``name``: the URL's route name)."""
    return {fmt: reverse(f"api:{name}", args=[str(pk), fmt]) for fmt in FORMATS}


def report_out(report: Report) -> dict[str, Any]:
    return {
        "id": str(report.pk),
        "title": report.title,
        "markdown": report.markdown,
        "html": str(render_markdown(report.markdown)),
        "job_type": report.job_type,
        "job_id": str(report.job_id) if report.job_id else None,
        "stream_id": str(report.stream_id) if report.stream_id else None,
        "version": report.version,
        "reason": report.reason,
        "exports": export_links("export_report", report.pk),
        "created_at": iso(report.created_at),
        "updated_at": iso(report.updated_at),
    }


def version_out(report: Report) -> dict[str, Any]:
    """One entry of a job's version list (the contract's fields, then the extras)."""
    author = report.created_by
    return {
        "report_id": str(report.pk),
        "version": report.version,
        "created_at": iso(report.created_at),
        "stream_id": str(report.stream_id) if report.stream_id else None,
        "reason": report.reason,
        "created_by": author.get_username() if author is not None else None,
        "changed_stages": list(report.changed_stages or []),
        "tokens_in": report.tokens_in,
        "tokens_out": report.tokens_out,
        "cost_usd": money_str(report.cost_usd),
        "exports": export_links("export_report", report.pk),
    }
