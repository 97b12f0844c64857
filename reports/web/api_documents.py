"""The API's document endpoints: versions, diffs, forks and exports."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status

from reports.documents import exports
from reports.documents.diff import diff_html
from reports.documents.versions import job_versions, latest_version
from reports.streams import services
from reports.streams.edits import edit_stage, preview_edit
from reports.streams.forks import fork_stream, preview_fork
from reports.streams.selectors import parse_uuid, stream_snapshot
from reports.streams.snapshot import StreamSnapshot
from reports.web.api_common import (
    ErrorOut,
    report_or_404,
    request_user,
    stream_or_404,
    version_out,
)
from reports.web.downloads import attachment
from reports.web.limits import check_creation_rate

router = Router()


class VersionOut(Schema):
    report_id: str
    version: int
    created_at: str | None
    stream_id: str | None
    reason: str
    created_by: str | None
    changed_stages: list[str]
    tokens_in: int
    tokens_out: int
    cost_usd: str | None
    exports: dict[str, str]


class DiffOut(Schema):
    html: str
    from_report_id: str
    to_report_id: str
    from_version: int
    to_version: int


class ForkIn(Schema):
    from_stage: str
    input_data: dict[str, Any] | None = None
    instructions: str | None = None
    dry_run: bool = False


class ForecastStageOut(Schema):
    key: str
    tokens_in: int
    tokens_out: int
    cost_usd: str | None
    seconds: float


class ForecastBasisOut(Schema):
    runs: int
    model: str | None


class ForecastOut(Schema):
    stages: list[ForecastStageOut]
    cost_usd: str | None
    seconds: float
    basis: ForecastBasisOut


class ForkPreviewOut(Schema):
    rerun: list[str]
    copied: list[str]
    stale: list[str]
    forecast: ForecastOut


@router.get(
    "/jobs/{job_id}/versions/", response={200: list[VersionOut], 404: ErrorOut}, tags=["reports"]
)
def list_versions(request: HttpRequest, job_id: str) -> list[dict[str, Any]]:
    """Every document version of a job, newest first; none is ever overwritten."""
    pk = parse_uuid(job_id)
    versions = list(job_versions(request_user(request), pk)) if pk else []
    if not versions:
        raise services.NotFound(f"No documents for job {job_id}.")
    return [version_out(report) for report in versions]


@router.get(
    "/reports/{report_id}/versions/{other_id}/diff/",
    response={200: DiffOut, 404: ErrorOut},
    tags=["reports"],
)
def diff_versions(request: HttpRequest, report_id: str, other_id: str) -> dict[str, Any]:
    """What changed between two versions, older to newer, as sanitized HTML."""
    a, b = report_or_404(request, report_id), report_or_404(request, other_id)
    old, new = sorted((a, b), key=lambda r: (r.version, r.created_at))
    return {
        "html": str(diff_html(old.markdown, new.markdown)),
        "from_report_id": str(old.pk),
        "to_report_id": str(new.pk),
        "from_version": old.version,
        "to_version": new.version,
    }


@router.post(
    "/streams/{stream_id}/fork/",
    response={
        200: ForkPreviewOut, 201: StreamSnapshot, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
        429: ErrorOut,
    },
    tags=["streams"],
)
def fork(request: HttpRequest, stream_id: str, payload: ForkIn) -> Status[dict[str, Any]]:
    """A new stream of the same job: stages before ``from_stage`` are copied (never sent
    to the model again); ``from_stage`` and after run with the edited input. With
    ``dry_run``: 200 and ``{rerun, copied, stale, forecast}``, nothing created."""
    stream_or_404(request, stream_id)
    if payload.dry_run:
        preview = preview_fork(
            stream_id=stream_id, user=request_user(request), from_stage=payload.from_stage,
            input_data=payload.input_data, instructions=payload.instructions,
        )
        return Status(200, preview)
    new = fork_stream(
        stream_id=stream_id,
        user=request_user(request),
        from_stage=payload.from_stage,
        input_data=payload.input_data,
        instructions=payload.instructions,
        before_create=lambda: check_creation_rate(request),  # a 422 does not count
    )
    return Status(201, stream_snapshot(new))


def download(doc: exports.Document, fmt: str) -> HttpResponse:
    if fmt not in exports.FORMATS:
        raise services.NotFound(f"No export format {fmt!r}: one of {', '.join(exports.FORMATS)}.")
    content, content_type, filename = exports.export(doc, fmt)
    return attachment(content, content_type, filename)


class EditIn(Schema):
    text: str | None = None
    # An object (or, for a list stage, the bare list): checked by the stage's schema.
    data: Any = None
    dry_run: bool = False


class EditPreviewOut(Schema):
    rerun: list[str]
    copied: list[str]
    forecast: ForecastOut


@router.post(
    "/streams/{stream_id}/stages/{key}/edit/",
    response={
        200: EditPreviewOut, 201: StreamSnapshot, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut,
        429: ErrorOut,
    },
    tags=["streams"],
)
def edit(request: HttpRequest, stream_id: str, key: str, payload: EditIn) -> Status[dict[str, Any]]:
    """Replace a finished stream's stage with a person's ``text`` (prose) or ``data``
    (JSON, checked against the stage's ``output_schema``): 201 and the snapshot of a new
    stream of the job where only the stages that depend on it run. With ``dry_run``: 200
    and ``{rerun, copied, forecast}``, nothing changed."""
    stream_or_404(request, stream_id)
    user = request_user(request)
    if payload.dry_run:
        preview = preview_edit(stream_id=stream_id, user=user, key=key, text=payload.text,
                               data=payload.data)
        return Status(200, preview)
    new = edit_stage(stream_id=stream_id, user=user, key=key, text=payload.text,
                     data=payload.data, before_create=lambda: check_creation_rate(request))
    return Status(201, stream_snapshot(new))


@router.get(
    "/reports/{report_id}/export/{fmt}/",
    response={200: None, 404: ErrorOut},
    tags=["reports"],
    url_name="export_report",
)
def export_report(request: HttpRequest, report_id: str, fmt: str) -> HttpResponse:
    """The version as ``md``, ``html`` (one self-contained file), ``pdf`` or ``docx``,
    ending with its provenance."""
    return download(exports.of_report(report_or_404(request, report_id)), fmt)


@router.get(
    "/streams/{stream_id}/export/{fmt}/",
    response={200: None, 404: ErrorOut},
    tags=["streams"],
    url_name="export_stream",
)
def export_stream(request: HttpRequest, stream_id: str, fmt: str) -> HttpResponse:
    """What the stream has: its latest version once completed; before that, the finished
    stages in full and the missing ones marked."""
    stream = stream_or_404(request, stream_id)
    report = latest_version(stream) if stream.is_completed else None
    return download(exports.of_report(report) if report else exports.of_stream(stream), fmt)
