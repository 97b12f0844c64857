"""What tokens cost, and what was spent.

Prices come from ``config().pricing``: USD per million tokens, ``(input, output)``
per model name. To price a model, add a line there, e.g.
``"llama3.1:8b": (Decimal("0"), Decimal("0"))`` for a local Ollama model, or
``"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"))``. A dated snapshot
(``gpt-4o-2024-08-06``) is priced like its family (``gpt-4o``). A model without a
price has an *unknown* cost (None, "unknown" on the card), never zero.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reports.domain.config import config
from reports.providers.base import Usage

MILLION = Decimal(1_000_000)


def price_for(model: str) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD per million tokens, or None for a model without a price."""
    pricing = config().pricing
    if model in pricing:
        return pricing[model]
    # Dated snapshots ("gpt-4o-2024-08-06") are priced like their family.
    for name in sorted(pricing, key=len, reverse=True):
        if model.startswith(name + "-"):
            return pricing[name]
    return None


def cost_for(model: str, usage: Usage | None) -> Decimal | None:
    """The cost of one call, or None when usage or the model's price is unknown."""
    if usage is not None and usage.tokens_in == usage.tokens_out == 0:
        return Decimal("0.000000")  # nothing used costs nothing, priced or not
    price = price_for(model)
    if usage is None or price is None:
        return None
    cost = (usage.tokens_in * price[0] + usage.tokens_out * price[1]) / MILLION
    return cost.quantize(Decimal("0.000001"))


# --- What was spent ---------------------------------------------------------------
# Every attempt counts: failed and cancelled ones were paid for too. An attempt whose
# usage never arrived carries an estimate (``usage_known`` False); one whose model has
# no price carries no cost (None): totals then say they are incomplete, never zero.


def _totals(attempts: Any) -> dict[str, Any]:
    """Sums over a StageAttempt queryset, with what is unknown said plainly."""
    from django.db.models import Count, Q, Sum

    row = attempts.aggregate(
        attempts=Count("pk"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
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
        # The sum of the known costs; None when no attempt has a known cost.
        "cost_usd": cost,
        "cost_complete": row["unpriced"] == 0 and row["estimated"] == 0,
        "unpriced_attempts": row["unpriced"],
        "estimated_attempts": row["estimated"],
    }


def stream_costs(stream_id: Any) -> dict[str, Any]:
    """A stream's cost, per stage and per attempt (``attempt_log``: model, tokens, cost)."""
    from reports.models import StageAttempt

    attempts = StageAttempt.objects.filter(stage__stream_id=stream_id)
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
                "usage_known": attempt.usage_known,
                "cost_usd": attempt.cost_usd,
                "error_kind": attempt.error_kind,
            }
        )
    for key, stage in stages.items():
        stage.update(_totals(attempts.filter(stage__key=key)))
    return {**_totals(attempts), "stages": list(stages.values())}


def user_costs(user: Any) -> dict[str, Any]:
    """What a user's streams cost in all, and per model (every attempt counted)."""
    from reports.models import StageAttempt

    attempts = StageAttempt.objects.filter(stage__stream__owner=user)
    models = sorted(set(attempts.values_list("model", flat=True)))
    return {
        **_totals(attempts),
        "streams": attempts.values("stage__stream").distinct().count(),
        "by_model": [
            {"model": model, **_totals(attempts.filter(model=model))} for model in models
        ],
    }
