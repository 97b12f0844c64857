"""What tokens cost (what was spent is read by ``reports.streams.costs``).

Prices come from ``config().pricing``: USD per million tokens per model name, as
``(input, output)`` or ``(input, output, cached input, cache write)``. To price a
model, add a line there, e.g. ``"llama3.1:8b": (Decimal("0"), Decimal("0"))`` for a
local Ollama model, or ``"gpt-4o-mini": (Decimal("0.15"), Decimal("0.60"),
Decimal("0.075"), Decimal("0.15"))``. Input tokens served from the provider's prompt
cache are priced at the cached rate and tokens written to the cache at the
cache-write rate; a model priced without those two prices both as plain input (never
less than it may cost). A dated snapshot (``gpt-4o-2024-08-06``) is priced like its
family (``gpt-4o``). ``LLM_PRICES`` adds prices without editing code
(``"my-model=0.5/1.5"``). A local model (a GGUF file, ``LLM_PROVIDER=local``) costs 0.
A model without a price has an *unknown* cost (None, "no price set" on the card), never
zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from reports.domain.config import config
from reports.domain.money import Cost
from reports.providers.base import Usage

MILLION = Decimal(1_000_000)
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Rates:
    """USD per million tokens of one model."""

    input: Decimal
    output: Decimal
    cached: Decimal
    cache_write: Decimal

    @classmethod
    def of(cls, price: tuple[Decimal, ...]) -> Rates:
        input_rate, output_rate = price[0], price[1]
        cached = price[2] if len(price) > 2 else input_rate
        write = price[3] if len(price) > 3 else input_rate
        return cls(input_rate, output_rate, cached, write)


# What a model run on this machine costs: nothing.
LOCAL_PRICE = (Decimal(0), Decimal(0))


def is_local(model: str) -> bool:
    """A model run in this process from a GGUF file (the local provider names its
    stages' model after the file)."""
    return model.lower().endswith(".gguf")


def _price(model: str) -> tuple[Decimal, ...] | None:
    pricing = config().pricing
    if model not in pricing and is_local(model):
        return LOCAL_PRICE
    if model in pricing:
        return pricing[model]
    # Dated snapshots ("gpt-4o-2024-08-06") are priced like their family.
    for name in sorted(pricing, key=len, reverse=True):
        if model.startswith(name + "-"):
            return pricing[name]
    return None


def price_for(model: str) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD per million tokens, or None for a model without a price."""
    price = _price(model)
    return None if price is None else (price[0], price[1])


def rates_for(model: str) -> Rates | None:
    """Every rate of ``model`` (cached and cache-write ones included), or None."""
    price = _price(model)
    return None if price is None else Rates.of(price)


def _uncached(usage: Usage) -> int:
    return max(0, usage.tokens_in - usage.tokens_cached - usage.tokens_cache_write)


def cost_for(model: str, usage: Usage | None) -> Decimal | None:
    """The cost of one call, or None when usage or the model's price is unknown."""
    if usage is not None and usage.tokens_in == usage.tokens_out == 0:
        return Decimal("0.000000")  # nothing used costs nothing, priced or not
    rates = rates_for(model)
    if usage is None or rates is None:
        return None
    cost = (
        _uncached(usage) * rates.input
        + usage.tokens_cached * rates.cached
        + usage.tokens_cache_write * rates.cache_write
        + usage.tokens_out * rates.output
    ) / MILLION
    return cost.quantize(MICRO)


def cache_saving(model: str, usage: Usage | None) -> Decimal:
    """What the prompt cache saved on one call against paying every input token at the
    input rate (negative when cache writes cost more than the reads saved); 0 unknown."""
    rates = rates_for(model)
    if usage is None or rates is None:
        return Decimal(0)
    saved = (
        usage.tokens_cached * (rates.input - rates.cached)
        - usage.tokens_cache_write * (rates.cache_write - rates.input)
    ) / MILLION
    return saved.quantize(MICRO)


def is_free(model: str) -> bool:
    """The model costs nothing whatever the tokens (offline, or priced at zero)."""
    return price_for(model) == (Decimal(0), Decimal(0))


def models_cost(models: Iterable[str], usd: Decimal | None, *, estimated: bool = False) -> Cost:
    """What work by ``models`` that cost ``usd`` is, by the one rule
    (``reports.domain.money``): free (or local) when every model is, whatever the
    amount; otherwise the amount, unknown when None. Every page, list, chart, admin
    screen and export writes a cost through this (``.label``)."""
    used = [model for model in dict.fromkeys(models) if model]
    if used and all(is_free(model) for model in used):
        return Cost(Decimal(0), free=True, local=all(is_local(model) for model in used))
    unpriced = tuple(model for model in used if price_for(model) is None)
    return Cost(usd, estimated=estimated, unpriced=unpriced if usd is None else ())
