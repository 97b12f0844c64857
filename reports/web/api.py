"""The JSON API (django-ninja): ``/api/``, schema at ``/api/openapi.json``.

Session auth with CSRF for unsafe methods, or ``Authorization: Bearer <token>``
(``manage.py create_api_token <username>``). Errors are JSON with a 4xx status:
``{"error": code, "message": text, "details": ...}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import django_auth
from pydantic import ValidationError as PydanticError
from pydantic import field_validator

from reports.pipelines import all_pipelines, graph
from reports.pipelines.structured import documented_schema
from reports.streams import services
from reports.streams.selectors import (
    report_for_user,
    stage_detail,
    stream_snapshot,
)
from reports.streams.services import ServiceError
from reports.streams.snapshot import StageDetail, StreamSnapshot
from reports.web.api_common import ErrorOut, ReportOut, report_out, request_user, stream_or_404
from reports.web.api_documents import router as documents_router
from reports.web.api_forecast import router as forecast_router
from reports.web.api_reviews import router as reviews_router
from reports.web.api_tokens import router as tokens_router
from reports.web.api_webhooks import router as webhooks_router
from reports.web.auth import BearerToken
from reports.web.jobs import offline_model_from
from reports.web.limits import RateLimited, check_creation_rate
from reports.web.middleware import CSRF_MESSAGES, ERROR_CODES

api = NinjaAPI(
    title="Reportsite API",
    version="1",
    description="Generate reports stage by stage and follow them live.",
    # A bearer token first: the session check would demand a CSRF token of it.
    auth=[BearerToken(), django_auth],
    urls_namespace="api",
)


class StreamIn(Schema):
    type: str
    job_id: str | None = None
    input_data: dict[str, Any] | None = None
    # What the stream may spend in USD (> 0); default STREAM_BUDGET_USD, unset: no cap.
    budget_usd: Decimal | None = None
    # Stage keys after which the stream waits for its owner's review (unknown keys: 422).
    review_after: list[str] | None = None

    @field_validator("budget_usd", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        return refuse_booleans(value)


SchemaT = TypeVar("SchemaT", bound=Schema)


class ResumeIn(Schema):
    # A new budget in USD: over what the stream has spent, to go on past the old one.
    budget_usd: Decimal | None = None

    @field_validator("budget_usd", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        return refuse_booleans(value)


def refuse_booleans(value: Any) -> Any:
    """``true`` is not an amount (pydantic would read it as 1)."""
    if isinstance(value, bool):
        raise ValueError("must be an amount in USD, not true or false")
    return value


class PipelineStageOut(Schema):
    key: str
    title: str
    position: int
    reads: list[str]
    # The keys of the stages whose output it reads (the same as ``reads``).
    depends_on: list[str]
    # The input fields it reads itself (its prompt, the brief included).
    reads_inputs: list[str]
    # A person may replace its output (POST .../stages/{key}/edit/).
    editable: bool
    weight: float
    json_output: bool
    calls_model: bool
    # A JSON stage's shape (the schema its answers are validated against and that
    # models with structured output are held to); null for prose stages.
    output_schema: dict[str, Any] | None = None


class PipelineOut(Schema):
    type: str
    title: str
    description: str
    stages: list[PipelineStageOut]
    input_schema: dict[str, Any]


def error(
    request: HttpRequest, status: int, code: str, message: str, details: Any = None
) -> HttpResponse:
    """The API's error body, ``{"error", "message", "details"}``, with ``status``."""
    return api.create_response(
        request, {"error": code, "message": message, "details": details}, status=status
    )


@api.exception_handler(ServiceError)
def on_service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    response = error(request, exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    details = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
        for err in exc.errors
    ]
    return error(request, 422, "invalid_input", "The request is not valid.", details)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error(request, 401, "unauthorized", "Log in (or send a valid CSRF token) first.")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """ninja's own refusals, each with a documented code (docs/api.md, "Errors"): its
    session auth's CSRF check, a body it cannot parse, and any other status."""
    status, text = exc.status_code, str(exc)
    if status == 403 and "CSRF" in text:
        return error(request, 403, "csrf_failed", CSRF_MESSAGES["api"])
    if status == 400 and text.startswith("Cannot parse request body"):
        return error(request, 400, "bad_request", "The request body is not valid JSON.")
    return error(request, status, ERROR_CODES.get(status, "bad_request"), text)


@api.get("/pipelines/", response=list[PipelineOut], tags=["pipelines"])
def list_pipelines(request: HttpRequest) -> list[dict[str, Any]]:
    """Job types, their stages and their input schema."""
    return [
        {
            "type": pipeline.type,
            "title": pipeline.title,
            "description": pipeline.description,
            "stages": [
                {
                    "key": s.key,
                    "title": s.title,
                    "position": i,
                    "reads": list(s.reads),
                    "depends_on": list(s.reads),
                    "reads_inputs": list(graph.inputs_read(pipeline, s)),
                    "editable": graph.is_editable(s),
                    "weight": s.weight,
                    "json_output": s.json_output,
                    "calls_model": s.calls_model,
                    "output_schema": documented_schema(s.output) if s.output else None,
                }
                for i, s in enumerate(pipeline.stages)
            ],
            "input_schema": pipeline.input_schema.model_json_schema(),
        }
        for pipeline in all_pipelines()
    ]


@api.post(
    "/streams/",
    response={
        200: StreamSnapshot, 201: StreamSnapshot, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut
    },
    tags=["streams"],
)
def create_stream(request: HttpRequest, payload: StreamIn) -> Status[dict[str, Any]]:
    """Start generating: 201 and a snapshot, or 200 and the job's active stream.

    429 (with ``Retry-After``) past ``STREAMS_PER_USER_PER_MINUTE``; streams beyond
    ``MAX_ACTIVE_STREAMS_PER_USER`` are accepted and wait (``queue_position``)."""
    if payload.job_id is None and payload.input_data is None:
        raise services.InvalidInput("Give a job_id, or input_data to create a job from.")
    budget = services.budget_from(payload.budget_usd)
    stream, created = services.create_streaming_job(
        job_id=payload.job_id,
        user=request_user(request),
        type=payload.type,
        input_data=payload.input_data,
        offline_model=offline_model_from(request),
        budget_usd=budget,
        review_after=payload.review_after,
        before_create=lambda: check_creation_rate(request),  # a 422 does not count
    )
    return Status(201 if created else 200, stream_snapshot(stream))


@api.get("/streams/{stream_id}/", response={200: StreamSnapshot, 404: ErrorOut}, tags=["streams"])
def get_stream(request: HttpRequest, stream_id: str) -> dict[str, Any]:
    """The stream's snapshot."""
    return stream_snapshot(stream_or_404(request, stream_id))


@api.get(
    "/streams/{stream_id}/stages/{key}/",
    response={200: StageDetail, 404: ErrorOut},
    tags=["streams"],
)
def get_stage(request: HttpRequest, stream_id: str, key: str) -> dict[str, Any]:
    """One stage in full: its snapshot fields plus ``output`` (text so far) and ``data``."""
    stage = stream_or_404(request, stream_id).stages.filter(key=key).first()
    if stage is None:
        raise services.NotFound(f"No stage {key!r} in this stream.")
    return stage_detail(stage)


@api.post(
    "/streams/{stream_id}/resume/",
    response={200: StreamSnapshot, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    tags=["streams"],
    openapi_extra={"requestBody": {"required": False, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/ResumeIn"}}}}},
)
def resume_stream(request: HttpRequest, stream_id: str) -> dict[str, Any]:
    """Continue from the first unfinished stage; completed stages are kept. An optional
    body ``{"budget_usd": higher}`` raises the budget of a stream that stopped at it (422
    if it is not over what the stream has spent)."""
    payload = optional_body(request, ResumeIn)
    budget = services.budget_from(payload.budget_usd) if payload is not None else None
    stream = services.resume_job(stream_id=stream_id, user=request_user(request),
                                 budget_usd=budget)
    return stream_snapshot(stream)


def optional_body(request: HttpRequest, schema: type[SchemaT]) -> SchemaT | None:
    """The JSON body validated by ``schema``, or None for an empty one (django-ninja
    cannot make a body optional: clients that send none must keep working)."""
    if request.content_type != "application/json" or not request.body.strip():
        return None  # no body, or a form's (already read): nothing to change
    try:
        return schema.model_validate_json(request.body)
    except PydanticError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ServiceError("The request body is not valid JSON.") from None
        details = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                   for err in exc.errors(include_url=False, include_input=False)]
        raise services.InvalidInput("The request is not valid.", details=details) from None


@api.post(
    "/streams/{stream_id}/cancel/", response={200: StreamSnapshot, 404: ErrorOut}, tags=["streams"]
)
def cancel_stream(request: HttpRequest, stream_id: str) -> dict[str, Any]:
    """Stop now; the running stage keeps its partial text and the stream can be resumed."""
    return stream_snapshot(services.cancel_job(stream_id=stream_id, user=request_user(request)))


@api.post(
    "/streams/{stream_id}/stages/{key}/retry/",
    response={200: StreamSnapshot, 404: ErrorOut, 409: ErrorOut},
    tags=["streams"],
)
def retry_stream_stage(request: HttpRequest, stream_id: str, key: str) -> dict[str, Any]:
    """Run one stage again, with the stages that read it; keep the rest."""
    stream = services.retry_stage(stream_id=stream_id, key=key, user=request_user(request))
    return stream_snapshot(stream)


@api.get("/reports/{report_id}/", response={200: ReportOut, 404: ErrorOut}, tags=["reports"])
def get_report(request: HttpRequest, report_id: str) -> dict[str, Any]:
    """An assembled report: Markdown and sanitized HTML."""
    report = report_for_user(report_id, request_user(request))
    if report is None:
        raise services.NotFound(f"No report {report_id}.")
    return report_out(report)


api.add_router("", documents_router)
api.add_router("", forecast_router)
api.add_router("", reviews_router)
api.add_router("", webhooks_router)
api.add_router("", tokens_router)
