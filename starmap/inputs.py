"""Reading a starmap's inputs: the roles it names, the gaps it lists, the budget it gives.

Shared by the offline drafts and the assembly, so both read the brief the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_ROLES = 6
MAX_ITEMS = 6

_COUNT_RE = re.compile(r"(\d[\d,. ]*)")
_SPLIT_RE = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass(frozen=True)
class Role:
    name: str
    headcount: int | None


def text(inputs: Mapping[str, Any], name: str, fallback: str = "") -> str:
    """One input as clean single-spaced text."""
    value = inputs.get(name)
    return " ".join(str(value).split()) if value else fallback


def items(value: str, limit: int = MAX_ITEMS) -> list[str]:
    """Split free text into short items: lines, sentences or semicolon-separated parts."""
    parts = [p.strip(" -*•\t;.") for p in _SPLIT_RE.split(value or "")]
    return [p for p in parts if p][:limit]


def roles(inputs: Mapping[str, Any]) -> list[Role]:
    """The roles the brief names, with a head count when a line gives one."""
    raw = str(inputs.get("roles_audiences") or "")
    lines = [line for line in (raw.splitlines() if "\n" in raw.strip() else re.split(r"[;,]", raw))]
    found: list[Role] = []
    for line in lines:
        cleaned = line.strip(" -*•\t.")
        if not cleaned:
            continue
        match = _COUNT_RE.search(cleaned)
        count = None
        if match:
            digits = re.sub(r"\D", "", match.group(1))
            count = int(digits) if digits and len(digits) < 8 else None
        name = _COUNT_RE.sub("", cleaned).strip(" ()[]:-~\u2013\u2248").strip() or cleaned
        name = re.sub(r"\s*\(\s*\)|\s{2,}", " ", name).strip()
        found.append(Role(name[:80], count))
    return found[:MAX_ROLES] or [Role("Everyone in scope", None)]


def headcount(inputs: Mapping[str, Any]) -> int | None:
    """The total of the head counts given, if any were."""
    counts = [r.headcount for r in roles(inputs) if r.headcount]
    return sum(counts) if counts else None


def budget(inputs: Mapping[str, Any]) -> Decimal | None:
    value = inputs.get("budget")
    if value in (None, ""):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount > 0 else None


def money(amount: Decimal, currency: str) -> str:
    """1234.5 -> "1,235 USD" (whole units: plans do not need cents)."""
    return f"{amount.quantize(Decimal(1)):,} {currency}"


def cell(value: Any) -> str:
    """Text that is safe inside a Markdown table cell."""
    return " ".join(str(value).split()).replace("|", "\\|")


GAP_KINDS = (
    ("knowledge", ("know", "aware", "understand", "unfamiliar", "new product", "policy")),
    ("environment", ("tool", "system", "process", "data", "access", "workflow", "time")),
    ("motivation", ("motivat", "engag", "reluct", "resist", "morale", "confiden")),
)


def gap_kind(gap: str) -> str:
    """Knowledge, skill, motivation or environment: only the first two are fixed by training."""
    lowered = gap.lower()
    for kind, words in GAP_KINDS:
        if any(word in lowered for word in words):
            return kind
    return "skill"
