"""What tokens cost (what was spent is read by ``reports.streams.costs``).

Prices come from ``config().pricing``: USD per million tokens, ``(input, output)``
per model name. To price a model, add a line there, e.g.
``"llama3.1:8b": (Decimal("0"), Decimal("0"))`` for a local Ollama model, or
``"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"))``. A dated snapshot
(``gpt-4o-2024-08-06``) is priced like its family (``gpt-4o``). A model without a
price has an *unknown* cost (None, "unknown" on the card), never zero.
"""

from __future__ import annotations

from decimal import Decimal

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
