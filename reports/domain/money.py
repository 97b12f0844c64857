"""How amounts of money are written in the API and on pages: one rule each.

A cost is *unknown* (None) only when no attempt behind it could be priced; it is
*estimated* ("≈") when some usage never arrived (a cancel, a cut stream) and was
counted from the text; it is *free* when every model behind it costs nothing (the
offline model, a local one priced at zero), whatever the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Cost:
    usd: Decimal | None
    estimated: bool = False
    free: bool = False

    @property
    def label(self) -> str:
        """The page's form: "$0.42", "≈ $0.0031", "free (offline)", "unknown"."""
        if self.free:
            return "free (offline)"
        if self.usd is None:
            return "unknown"
        return ("≈ " if self.estimated else "") + usd_label(self.usd)

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
