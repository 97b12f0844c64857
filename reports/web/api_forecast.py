"""The API's forecast: what a run will cost and take, before the click
(docs/api.md, "Forecast"; docs/models-and-costs.md, "Forecasts")."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from reports.pipelines.registry import UnknownJobType
from reports.streams import services
from reports.streams.forecast import forecast_job, forecast_stream
from reports.web.api_common import ErrorOut, stream_or_404

router = Router(tags=["forecast"])


class ForecastIn(Schema):
    type: str | None = None
    input_data: dict[str, Any] | None = None
    model: str = Field("", max_length=120)
    stream_id: str | None = None
    from_stage: str | None = None


class StageForecastOut(Schema):
    key: str
    tokens_in: int
    tokens_out: int
    cost_usd: str | None
    seconds: float
    # How many earlier runs of this stage its numbers are the medians of (0: estimated).
    runs: int


class ForecastBasisOut(Schema):
    runs: int
    model: str


class ForecastOut(Schema):
    stages: list[StageForecastOut]
    cost_usd: str | None
    seconds: float
    basis: ForecastBasisOut


@router.post("/forecast/", response={200: ForecastOut, 404: ErrorOut, 422: ErrorOut})
def forecast(request: HttpRequest, payload: ForecastIn) -> dict[str, Any]:
    """What a run will cost and take, per stage and in total: ``{type, input_data?,
    model?}`` for a new job, or ``{stream_id, from_stage?}`` for the rest of a stream
    (from ``from_stage`` on; without it, its unfinished stages). ``cost_usd`` is null
    when a model has no price; ``basis.runs`` is how many earlier runs it drew on."""
    if payload.stream_id is not None:
        stream = stream_or_404(request, payload.stream_id)
        try:
            result = forecast_stream(stream, payload.from_stage, model=payload.model)
        except KeyError:
            raise services.InvalidInput(
                f"No stage {payload.from_stage!r} in this stream.",
                details=[{"field": "from_stage", "message": "not a stage of this stream"}],
            ) from None
        except UnknownJobType as exc:
            raise services.Conflict(str(exc)) from None
        return result.as_json()
    if not payload.type:
        raise services.InvalidInput(
            "Give a type (with input_data if you have it), or a stream_id.",
            details=[{"field": "type", "message": "required without stream_id"}],
        )
    try:
        return forecast_job(
            job_type=payload.type, input_data=payload.input_data, model=payload.model
        ).as_json()
    except UnknownJobType as exc:
        raise services.InvalidInput(
            str(exc), details=[{"field": "type", "message": str(exc)}]
        ) from None
