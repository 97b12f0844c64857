"""What a run will cost and take, before it runs (docs/models-and-costs.md, "Forecasts").

Per stage: the medians of the recent completed runs of that stage, job type and model
(tokens in and out, cost, seconds), or, with no such history, an estimate from the
prompt's size (rendered from the inputs), the stage's output limit (a ceiling: a stage
rarely writes all of it) and the model's price, with the time from the stage's weight
and the pace the ETA uses. ``basis.runs`` says how many runs the forecast drew on (0:
prompt sizes only). The total time is the longest chain through the stages'
dependencies, as the ETA's is; the total cost is the sum (None when a stage's model has
no price).

``forecast_job`` answers before a job exists (the forms, ``POST /api/forecast/`` with a
``type``), ``forecast_stream`` and ``forecast_rerun`` for stages of a stream (Resume,
Retry, fork and edit previews): both read the stream's finished outputs for the prompt
sizes of the stages that read them.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from reports.domain.config import config
from reports.domain.money import Cost, money_str
from reports.models import Stage, StageSource, StageStatus, StreamingJob
from reports.pipelines import Pipeline, StageContext, StageSpec, get_pipeline
from reports.providers import Provider, ProviderError, Usage, get_provider
from reports.providers.base import rough_tokens
from reports.providers.pricing import cost_for, is_free, is_local
from reports.streams.eta import DEFAULT_SECONDS_PER_WEIGHT, HISTORY_DAYS, MODEL_PACES, stage_history

# The most recent completed runs of a stage that its medians are taken over.
RECENT_RUNS = 20
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class StageForecast:
    """One stage's expected tokens, cost (None: its model has no price) and seconds;
    ``runs``: how many earlier runs of it the numbers come from (0: estimated)."""

    key: str
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal | None
    seconds: float
    runs: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": money_str(self.cost_usd),
            "seconds": self.seconds,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class Forecast:
    """The stages' forecasts, their total cost and time, and what they are based on."""

    stages: tuple[StageForecast, ...]
    cost_usd: Decimal | None
    seconds: float
    runs: int
    model: str

    def as_json(self) -> dict[str, Any]:
        """The API's form (``POST /api/forecast/``): money as six-decimal strings."""
        return {
            "stages": [stage.as_json() for stage in self.stages],
            "cost_usd": money_str(self.cost_usd),
            "seconds": self.seconds,
            "basis": {"runs": self.runs, "model": self.model},
        }


def forecast_job(*, job_type: str, input_data: Mapping[str, Any] | None = None,
                 model: str = "") -> Forecast:
    """Every stage of a new job of ``job_type`` (raises ``UnknownJobType``);
    ``input_data`` may be partial (a form being filled in): it sizes the prompts only."""
    pipeline = get_pipeline(job_type)
    keys = [spec.key for spec in pipeline.stages]
    return _forecast(pipeline, keys, inputs=dict(input_data or {}), outputs={}, model=model)


def forecast_stream(stream: StreamingJob, from_stage: str | None = None,
                    *, model: str = "") -> Forecast:
    """What running ``stream`` on will take: ``from_stage`` and every stage after it (a
    fork or rerun from there), or without one its unfinished stages (a Resume).
    Raises ``KeyError`` for a stage the pipeline does not have."""
    pipeline = get_pipeline(stream.type)
    stages = list(stream.stages.in_order())
    if from_stage is not None:
        position = [spec.key for spec in pipeline.stages].index(pipeline.stage(from_stage).key)
        keys = [spec.key for spec in pipeline.stages[position:]]
    else:
        done = (StageStatus.COMPLETED, StageStatus.SKIPPED)
        keys = [stage.key for stage in stages if stage.status not in done]
    return _forecast(pipeline, keys, inputs=stream.input_data, outputs=_outputs(stages),
                     model=model)


def forecast_rerun(stream: StreamingJob, stage_keys: Iterable[str]) -> dict[str, Any]:
    """The forecast (API form) of running exactly ``stage_keys`` of ``stream`` again, the
    others kept: what an edit or fork preview shows before the click."""
    pipeline = get_pipeline(stream.type)
    wanted = set(stage_keys)
    keys = [spec.key for spec in pipeline.stages if spec.key in wanted]
    outputs = _outputs(list(stream.stages.all()))
    return _forecast(pipeline, keys, inputs=stream.input_data, outputs=outputs,
                     model="").as_json()


def _outputs(stages: list[Stage]) -> dict[str, str]:
    return {s.key: s.output for s in stages if s.status == StageStatus.COMPLETED}


def _forecast(pipeline: Pipeline, keys: list[str], *, inputs: Mapping[str, Any],
              outputs: Mapping[str, str], model: str) -> Forecast:
    provider = _provider()
    models = {key: _model(pipeline, pipeline.stage(key), provider, model) for key in keys}
    found = {key: _history(pipeline.type, key, models[key]) for key in keys}
    pace = _pace(pipeline, found, list(models.values()))
    expected_out: dict[str, int] = {}
    stages: list[StageForecast] = []
    for key in keys:
        spec = pipeline.stage(key)
        rows = found[key]
        estimated = _estimate(pipeline, spec, models[key], inputs, outputs, expected_out, pace)
        stage = _from_history(key, models[key], rows, spec) if rows else estimated
        expected_out[key] = stage.tokens_out
        stages.append(stage)
    costs = [stage.cost_usd for stage in stages if stage.cost_usd is not None]
    total = sum(costs, Decimal(0)) if len(costs) == len(stages) else None
    # The runs drawn on are those of the model's stages (assembly runs with any model).
    drawn = [key for key in keys if pipeline.stage(key).calls_model] or keys
    runs = {row["stream_id"] for key in drawn for row in found[key]}
    used = Counter(m for key, m in models.items() if m and pipeline.stage(key).calls_model)
    basis_model = model or (used.most_common(1)[0][0] if used else _default_model(provider))
    return Forecast(
        stages=tuple(stages),
        cost_usd=None if total is None else total.quantize(MICRO),
        seconds=round(_longest_chain(pipeline, stages), 1),
        runs=len(runs),
        model=basis_model,
    )


def _provider() -> Provider | None:
    try:
        return get_provider()
    except ProviderError:
        return None


def _default_model(provider: Provider | None) -> str:
    return provider.default_model if provider is not None else ""


def _model(pipeline: Pipeline, spec: StageSpec, provider: Provider | None, chosen: str) -> str:
    """The model the engine would run the stage with (``chosen`` overrides the
    settings'), "" for a stage built without a model; the same order as the engine's."""
    if not spec.calls_model:
        return ""
    if provider is not None and provider.serves_one_model:
        return provider.default_model
    return (chosen or config().model_for(pipeline.type, spec.key, spec.model)
            or _default_model(provider))


def _history(job_type: str, key: str, model: str) -> list[dict[str, Any]]:
    """The most recent completed runs of the stage with ``model`` (copied stages made no
    model call and do not count)."""
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    rows = (
        Stage.objects.filter(
            stream__type=job_type, key=key, model=model, status=StageStatus.COMPLETED,
            source=StageSource.MODEL, finished_at__gte=since, started_at__isnull=False,
        )
        .order_by("-finished_at")
        .values("stream_id", "tokens_in", "tokens_out", "cost_usd", "started_at", "finished_at")
    )
    return [dict(row) for row in rows[:RECENT_RUNS]]


def _from_history(key: str, model: str, rows: list[dict[str, Any]],
                  spec: StageSpec) -> StageForecast:
    tokens_in = round(statistics.median(row["tokens_in"] for row in rows))
    tokens_out = round(statistics.median(row["tokens_out"] for row in rows))
    costs = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    cost: Decimal | None
    if not spec.calls_model:
        cost = Decimal(0)
    elif costs:
        cost = Decimal(statistics.median(costs)).quantize(MICRO)
    else:  # runs whose model had no price then: price the medians now, if it has one
        cost = cost_for(model, Usage(tokens_in, tokens_out))
    seconds = statistics.median(
        (row["finished_at"] - row["started_at"]).total_seconds() for row in rows
    )
    return StageForecast(key, tokens_in, tokens_out, cost, round(max(seconds, 0.0), 1), len(rows))


def _pace(pipeline: Pipeline, found: dict[str, list[dict[str, Any]]], models: list[str]) -> float:
    """Seconds per unit of stage weight for the stages without history: this job
    type's stages that have some, else the model's pace over every job type (the ETA's),
    else the default."""
    weight = seconds = 0.0
    for key, rows in found.items():
        if rows:
            weight += pipeline.stage(key).weight
            seconds += statistics.median(
                (r["finished_at"] - r["started_at"]).total_seconds() for r in rows
            )
    if weight > 0 and seconds > 0:
        return seconds / weight
    paces = stage_history(MODEL_PACES)
    for model, _ in Counter(m for m in models if m).most_common():
        known = paces.get(("", model))
        if known is not None:
            return known.p50
    return DEFAULT_SECONDS_PER_WEIGHT


def _estimate(pipeline: Pipeline, spec: StageSpec, model: str, inputs: Mapping[str, Any],
              outputs: Mapping[str, str], expected_out: Mapping[str, int],
              pace: float) -> StageForecast:
    """A stage with no history: its prompt rendered from the inputs (the outputs it reads
    counted at their own forecasts where they have not been written yet), its output
    limit, the model's price, and its weight at ``pace``."""
    seconds = round(spec.weight * pace, 1)
    if not spec.calls_model:
        return StageForecast(spec.key, 0, 0, Decimal(0), seconds)
    limit = config().output_limit(pipeline.type, spec.key, spec.max_tokens)
    known = {key: outputs[key] for key in spec.reads if key in outputs}
    context = StageContext(pipeline.type, inputs, known, {}, limit)
    stable, instruction = pipeline.prompt_parts(spec, context)
    system = pipeline.render(pipeline.system_prompt, context)
    tokens_in = rough_tokens("\n\n".join((system, *stable, instruction)))
    tokens_in += sum(expected_out.get(key, 0) for key in spec.reads if key not in outputs)
    cost = cost_for(model, Usage(tokens_in, limit))
    return StageForecast(spec.key, tokens_in, limit, cost, seconds)


def _longest_chain(pipeline: Pipeline, stages: list[StageForecast]) -> float:
    """Stages whose inputs are ready run together: the longest chain of forecast stages
    through the dependencies is the time the run takes."""
    finish: dict[str, float] = {}
    for stage in stages:  # in pipeline order: dependencies come first
        before = [finish[key] for key in pipeline.stage(stage.key).reads if key in finish]
        finish[stage.key] = max(before, default=0.0) + stage.seconds
    return max(finish.values(), default=0.0)


def summary(forecast: dict[str, Any]) -> dict[str, Any]:
    """What the pages say of a forecast before a click: ``tokens`` (in and out),
    ``cost_label`` ("$0.012", "free (offline)", "no price set"), ``seconds`` and
    ``basis`` ("medians of 5 earlier runs of gpt-4o-mini")."""
    model = forecast["basis"]["model"] or ""
    amount = forecast["cost_usd"]
    cost = Cost(
        Decimal(amount) if amount is not None else None,
        free=bool(model) and is_free(model) and not is_local(model),
        local=bool(model) and is_local(model),
        unpriced=(model,) if amount is None and model else (),
    )
    runs = forecast["basis"]["runs"]
    basis = (
        f"medians of {runs} earlier run{'s' if runs != 1 else ''}"
        if runs else "from prompt sizes and output limits: no earlier runs"
    )
    return {
        "tokens": sum(row["tokens_in"] + row["tokens_out"] for row in forecast["stages"]),
        "cost_label": cost.label,
        "seconds": forecast["seconds"],
        "basis": f"{basis} of {model}" if model else basis,
    }
