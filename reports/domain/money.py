"""How amounts of money are written in the API and on pages (one rule each)."""

from __future__ import annotations

from decimal import Decimal


def money_str(value: Decimal | None) -> str | None:
    """The API's form: six decimals as a string, or None when unknown."""
    return None if value is None else f"{value:.6f}"
