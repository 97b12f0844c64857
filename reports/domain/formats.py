"""How durations and token counts are written on every page, list, chart, admin screen
and export: one rule each (money has its own, ``reports.domain.money``).

``static/js/live.js`` ticks durations between events with the same rule (its ``fmt``).
"""

from __future__ import annotations

from datetime import timedelta

NO_VALUE = "\u2013"  # an en dash: no value yet


def duration_label(seconds: float | timedelta | None) -> str:
    """"0 s", "< 1 s", "12 s", "15 min", "3 min 05 s", "1 h 02 min" (an en dash for no value)."""
    if seconds is None:
        return NO_VALUE
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    if 0 < seconds < 0.5:
        return "< 1 s"  # (a stage that made no model call): not "0 s", it took time
    total = max(round(seconds), 0)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min" if secs == 0 else f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def tokens_label(count: int | None) -> str:
    """A token count as people read it: "0", "856", "12,480" (an en dash for no value)."""
    if count is None:
        return NO_VALUE
    return f"{int(count):,}"


def tokens_in_out_label(tokens_in: int, tokens_out: int, tokens_cached: int = 0) -> str:
    """"1,613 in (512 cached) · 405 out": the card's, the lists' and the exports' form."""
    cached = f" ({tokens_label(tokens_cached)} cached)" if tokens_cached else ""
    return f"{tokens_label(tokens_in)} in{cached} · {tokens_label(tokens_out)} out"
