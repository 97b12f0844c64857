"""How amounts of money are written in the API and on pages (one rule each)."""

from __future__ import annotations

from decimal import Decimal


def known_cost(cost: Decimal | None, *, complete: bool) -> Decimal | None:
    """``cost``, or None when nothing of it is known (incomplete and nothing summed)."""
    if not complete and not cost:
        return None
    return cost


def money_str(value: Decimal | None) -> str | None:
    """The API's form: six decimals as a string, or None when unknown."""
    return None if value is None else f"{value:.6f}"


def money_label(cost: Decimal | None, *, complete: bool) -> str:
    """The page's form: "$0.0123", "≈ $0.0100" when part is estimated, "unknown" when none is."""
    value = known_cost(cost, complete=complete)
    if value is None:
        return "unknown"
    prefix = "" if complete else "≈ "
    return f"{prefix}${value:.4f}"
