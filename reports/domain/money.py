"""How amounts of money are written in the API and on pages: one rule each.

A cost is *unknown* (None) only when no attempt behind it could be priced; it is
*estimated* ("≈") when some usage never arrived (a cancel, a cut stream) and was
counted from the text; it is *free* when every model behind it costs nothing (the
offline model, one priced at zero), whatever the tokens, and *local* when they all ran
on this machine (a GGUF file). A cost without a price says "no price set" and how to
set one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# How to price a model that has none (the "no price set" hint, docs/local-model.md).
PRICE_HINT = 'set LLM_PRICES="{model}=input/output" (USD per million tokens)'


@dataclass(frozen=True)
class Cost:
    usd: Decimal | None
    estimated: bool = False
    free: bool = False
    # Every model behind it ran on this machine (a GGUF file): free, and said so.
    local: bool = False
    # The models without a price (why ``usd`` is None).
    unpriced: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """Why the amount is what it is: ``priced``, ``estimated``, ``free``, ``local``
        or ``no_price`` (the API's ``cost_status``)."""
        if self.local:
            return "local"
        if self.free:
            return "free"
        if self.usd is None:
            return "no_price"
        return "estimated" if self.estimated else "priced"

    @property
    def label(self) -> str:
        """The page's form: "$0.42", "≈ $0.0031", "free (offline)", "local", "no price set"."""
        if self.local:
            return "local"
        if self.free:
            return "free (offline)"
        if self.usd is None:
            return "no price set"
        return ("≈ " if self.estimated else "") + usd_label(self.usd)

    @property
    def note(self) -> str:
        """The status in words, with what to do about a missing price ("" when priced)."""
        if self.local:
            return "A model run on this machine: it costs nothing."
        if self.free:
            return "A model priced at zero: it costs nothing."
        if self.usd is None:
            models = ", ".join(self.unpriced) or "this model"
            model = self.unpriced[0] if self.unpriced else "model-name"
            return f"No price set for {models}: {PRICE_HINT.format(model=model)}."
        if self.estimated:
            return "Some usage was counted from the text: the model did not report it."
        return ""

    @property
    def api(self) -> str | None:
        """The API's form: six decimals as a string, None when unknown."""
        return money_str(Decimal(0) if self.free else self.usd)


def usd_label(value: Decimal) -> str:
    """Dollars as people read them: "$0", "$12.40", "$0.42", "$0.012", "$0.0031" (two
    significant digits under a dollar), "< $0.0001"."""
    value = Decimal(value)
    if value == 0:
        return "$0"
    if value >= 100:
        return f"${value.quantize(Decimal(1), ROUND_HALF_UP):,}"
    if value >= 1:
        return f"${value.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
    if value < Decimal("0.0001"):
        return "< $0.0001"
    digits = max(2, -value.adjusted() + 1)  # two significant digits under a dollar
    return f"${value.quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)}"


def money_str(value: Decimal | None) -> str | None:
    """The API's form: six decimals as a string, or None when unknown."""
    return None if value is None else f"{value:.6f}"
