"""What tokens cost: ``settings.LLM_PRICING`` in USD per million tokens."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from reports.providers.base import Usage

MILLION = Decimal(1_000_000)


def price_for(model: str) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD per million tokens, or None for a model without a price."""
    pricing: dict[str, tuple[Decimal, Decimal]] = settings.LLM_PRICING
    if model in pricing:
        return pricing[model]
    # Dated snapshots ("gpt-4o-2024-08-06") are priced like their family.
    for name in sorted(pricing, key=len, reverse=True):
        if model.startswith(name + "-"):
            return pricing[name]
    return None


def cost_for(model: str, usage: Usage | None) -> Decimal | None:
    """The cost of one call, or None when usage or the model's price is unknown."""
    price = price_for(model)
    if usage is None or price is None:
        return None
    cost = (usage.tokens_in * price[0] + usage.tokens_out * price[1]) / MILLION
    return cost.quantize(Decimal("0.000001"))
