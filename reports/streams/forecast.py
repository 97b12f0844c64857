"""What running some of a stream's stages again will cost and take, before the click
(the contract's "Forecast" shape). ``forecast_rerun`` is the one entry point.

Per stage: the medians of the recent completed runs of that job type, stage and model
(runs here, never copies or a person's edits), with ``basis.runs`` the number of streams
they came from; a stage without such history is estimated from its prompt (the inputs
and the outputs it reads, about 4 characters a token), its output limit and the model's
price, and counts no run.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from reports.domain.money import Cost, money_str
from reports.models import Stage, StageSource, StageStatus, StreamingJob
from reports.pipelines import Pipeline, get_pipeline
from reports.providers.pricing import MICRO, MILLION, is_free, is_local, price_for
from reports.streams.eta import DEFAULT_SECONDS_PER_WEIGHT, HISTORY_DAYS, predicted_model

# The newest runs of a stage that count (models and prompts change).
RECENT_RUNS = 50
# About 4 characters a token (English prose, the common tokenizers).
CHARS_PER_TOKEN = 4
# The system prompt, the template and the instructions around what a stage reads.
PROMPT_OVERHEAD_TOKENS = 300


def forecast_rerun(stream: StreamingJob, stage_keys: list[str]) -> dict[str, Any]:
    """``{stages: [{key, tokens_in, tokens_out, cost_usd, seconds}], cost_usd, seconds,
    basis: {runs, model}}`` for running ``stage_keys`` of ``stream`` again. ``cost_usd``
    is a string, or None when a stage's model has no price."""
    pipeline = get_pipeline(stream.type)
    stages = list(stream.stages.in_order())
    by_key = {stage.key: stage for stage in stages}
    wanted = [spec for spec in pipeline.stages if spec.key in set(stage_keys)]
    models = {
        spec.key: predicted_model(stream, by_key[spec.key], stages) if spec.key in by_key else ""
        for spec in wanted
    }
    history = _history(stream.type, [spec.key for spec in wanted])
    rows: list[dict[str, Any]] = []
    runs: set[Any] = set()
    for spec in wanted:
        model = models[spec.key]
        past = history.get((spec.key, model), [])
        if not spec.calls_model:
            row = _row(spec.key, 0, 0, Decimal(0), statistics.median(_secs(past)) if past else 0.1)
        elif past:
            runs.update(stage.stream_id for stage in past)
            row = _row(
                spec.key,
                round(statistics.median(stage.tokens_in for stage in past)),
                round(statistics.median(stage.tokens_out for stage in past)),
                _median_cost(past),
                statistics.median(_secs(past)),
            )
        else:
            tokens_in = _prompt_tokens(pipeline, stream, by_key, spec.key)
            rows_cost = _price(model, tokens_in, spec.max_tokens)
            row = _row(spec.key, tokens_in, spec.max_tokens, rows_cost,
                       spec.weight * DEFAULT_SECONDS_PER_WEIGHT)
        rows.append(row)
    costs = [row["_cost"] for row in rows]
    total = None if any(cost is None for cost in costs) else sum(costs, Decimal(0))
    used = Counter(model for model in models.values() if model)
    return {
        "stages": [{k: v for k, v in row.items() if k != "_cost"} for row in rows],
        "cost_usd": money_str(total),
        "seconds": round(sum(row["seconds"] for row in rows), 1),
        "basis": {"runs": len(runs), "model": used.most_common(1)[0][0] if used else None},
    }


def _row(key: str, tokens_in: int, tokens_out: int, cost: Decimal | None,
         seconds: float) -> dict[str, Any]:
    return {"key": key, "tokens_in": tokens_in, "tokens_out": tokens_out,
            "cost_usd": money_str(cost), "seconds": round(seconds, 1), "_cost": cost}


def _history(job_type: str, keys: list[str]) -> dict[tuple[str, str], list[Stage]]:
    """The newest completed runs per (stage key, model) of the job type (one query)."""
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    found: dict[tuple[str, str], list[Stage]] = defaultdict(list)
    rows = (
        Stage.objects.filter(
            stream__type=job_type, key__in=keys, status=StageStatus.COMPLETED,
            source=StageSource.MODEL, finished_at__gte=since, started_at__isnull=False,
        )
        .only("key", "model", "stream_id", "tokens_in", "tokens_out", "cost_usd",
              "started_at", "finished_at")
        .order_by("-finished_at")[: RECENT_RUNS * max(1, len(keys))]
    )
    for stage in rows:
        group = found[(stage.key, stage.model)]
        if len(group) < RECENT_RUNS:
            group.append(stage)
    return found


def _secs(stages: list[Stage]) -> list[float]:
    return [stage.duration_s() or 0.0 for stage in stages]


def _median_cost(stages: list[Stage]) -> Decimal | None:
    costs = [stage.cost_usd for stage in stages if stage.cost_usd is not None]
    return statistics.median(costs).quantize(MICRO) if costs else None


def _price(model: str, tokens_in: int, tokens_out: int) -> Decimal | None:
    price = price_for(model) if model else None
    if price is None:
        return None
    return ((tokens_in * price[0] + tokens_out * price[1]) / MILLION).quantize(MICRO)


def _prompt_tokens(pipeline: Pipeline, stream: StreamingJob, stages: dict[str, Stage],
                   key: str) -> int:
    """About how many tokens the stage's prompt holds: the inputs (the brief) and the
    outputs of the stages it reads, as they stand in ``stream``."""
    spec = pipeline.stage(key)
    chars = sum(len(str(value)) for value in stream.input_data.values())
    chars += sum(len(stages[name].output) for name in spec.reads if name in stages)
    return PROMPT_OVERHEAD_TOKENS + chars // CHARS_PER_TOKEN



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
