"""What was spent: a stream's or a user's cost, read from the attempts they paid for.

Every attempt counts: failed and cancelled ones were paid for too. An attempt whose
usage never arrived carries an estimate (``usage_known`` False); one whose model has
no price carries no cost (None): totals then say they are incomplete, never zero.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet, Sum

from reports.domain.money import Cost
from reports.models import Report, Stage, StageAttempt, StreamingJob
from reports.providers.pricing import is_free, models_cost, price_for

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def stage_cost(stage: Stage) -> Cost:
    """What one stage's attempts cost, by the one rule (``reports.domain.money``)."""
    if stage.attempts and stage.model and is_free(stage.model):
        return models_cost([stage.model], stage.cost_usd)
    return Cost(stage.cost_usd, unpriced=_unpriced([stage]))


def stream_cost(stream: StreamingJob, stages: list[Stage]) -> Cost:
    """What a stream spent: free when every model it used is; unknown only when no
    attempted stage could be priced; estimated when some usage was counted, not reported."""
    tried = [stage for stage in stages if stage.attempts]
    if tried and all(stage.model and is_free(stage.model) for stage in tried):
        return models_cost([s.model for s in tried], stream.cost_usd)
    if tried and all(stage.cost_usd is None for stage in tried):
        return Cost(None, unpriced=_unpriced(tried))
    return Cost(stream.cost_usd, estimated=not stream.cost_complete)


def _unpriced(stages: list[Stage]) -> tuple[str, ...]:
    """The models of ``stages`` that have no price, each once."""
    found = [s.model for s in stages if s.attempts and s.model and price_for(s.model) is None]
    return tuple(dict.fromkeys(found))


def version_cost(report: Report) -> Cost:
    """What one document version's change cost: free when every stage it changed ran on
    a free model (the offline one), else the attempts' sum it recorded."""
    changed = set(report.changed_stages or [])
    models = [e["model"] for e in report.provenance or [] if e["key"] in changed and e["model"]]
    if models and all(is_free(model) for model in models):
        return models_cost(models, report.cost_usd)
    return Cost(report.cost_usd)


def _totals(attempts: QuerySet[StageAttempt]) -> dict[str, Any]:
    """Sums over a StageAttempt queryset, with what is unknown said plainly."""
    row = attempts.aggregate(
        attempts=Count("pk"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        tokens_cached=Sum("tokens_cached"),
        cost=Sum("cost_usd"),
        unpriced=Count("pk", filter=Q(cost_usd__isnull=True)),
        estimated=Count("pk", filter=Q(usage_known=False)),
    )
    cost: Decimal | None = row["cost"]
    if cost is None and not row["unpriced"]:
        cost = Decimal(0)  # no attempts: nothing spent
    return {
        "attempts": row["attempts"],
        "tokens_in": row["tokens_in"] or 0,
        "tokens_out": row["tokens_out"] or 0,
        "tokens_cached": row["tokens_cached"] or 0,
        # The sum of the known costs; None when no attempt has a known cost.
        "cost_usd": cost,
        "cost_complete": row["unpriced"] == 0 and row["estimated"] == 0,
        "unpriced_attempts": row["unpriced"],
        "estimated_attempts": row["estimated"],
    }


def stream_costs(stream_id: uuid.UUID | str) -> dict[str, Any]:
    """A stream's cost, per stage and per attempt (``attempt_log``: model, tokens, cost)."""
    attempts = StageAttempt.objects.filter(stage__stream_id=uuid.UUID(str(stream_id)))
    stages: dict[str, dict[str, Any]] = {}
    for attempt in attempts.select_related("stage").order_by("stage__position", "number"):
        stage = stages.setdefault(
            attempt.stage.key, {"key": attempt.stage.key, "attempt_log": []}
        )
        stage["attempt_log"].append(
            {
                "number": attempt.number,
                "status": attempt.status,
                "model": attempt.model,
                "tokens_in": attempt.tokens_in,
                "tokens_out": attempt.tokens_out,
                "tokens_cached": attempt.tokens_cached,
                "tokens_cache_write": attempt.tokens_cache_write,
                "usage_known": attempt.usage_known,
                "cost_usd": attempt.cost_usd,
                "error_kind": attempt.error_kind,
            }
        )
    for key, stage in stages.items():
        stage.update(_totals(attempts.filter(stage__key=key)))
    return {**_totals(attempts), "stages": list(stages.values())}


def user_costs(user: User) -> dict[str, Any]:
    """What a user's streams cost in all, and per model (every attempt counted)."""
    attempts = StageAttempt.objects.filter(stage__stream__owner=user)
    models = sorted(set(attempts.values_list("model", flat=True)))
    return {
        **_totals(attempts),
        "streams": attempts.values("stage__stream").distinct().count(),
        "by_model": [
            {"model": model, **_totals(attempts.filter(model=model))} for model in models
        ],
    }
