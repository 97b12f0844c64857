"""Forecasts against what runs cost: each completed stream's forecast at creation
(``StreamingJob.forecast``) beside its real cost and time, and how far off they were."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from reports.models import StreamingJob, StreamStatus
from reports.web.analytics.queries import Period

# The newest streams listed one by one; the medians are over every one in the period.
LISTED = 20


@dataclass(frozen=True)
class ForecastRow:
    """One completed stream: what was forecast, and what it cost and took."""

    stream: StreamingJob
    forecast_cost: Decimal | None
    cost: Decimal
    forecast_seconds: float | None
    seconds: float | None
    runs: int

    @property
    def cost_ratio(self) -> float | None:
        """Actual / forecast cost (None when the forecast was zero or unknown)."""
        if not self.forecast_cost:
            return None
        return float(self.cost / self.forecast_cost)

    @property
    def time_ratio(self) -> float | None:
        if not self.forecast_seconds or self.seconds is None:
            return None
        return self.seconds / self.forecast_seconds


def _amount(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def _row(stream: StreamingJob) -> ForecastRow:
    forecast: dict[str, Any] = stream.forecast or {}
    seconds = forecast.get("seconds")
    return ForecastRow(
        stream=stream,
        forecast_cost=_amount(forecast.get("cost_usd")),
        cost=stream.cost_usd,
        forecast_seconds=float(seconds) if isinstance(seconds, int | float) else None,
        seconds=stream.duration_s(),
        runs=int((forecast.get("basis") or {}).get("runs") or 0),
    )


def forecast_accuracy(period: Period) -> dict[str, Any]:
    """The period's completed streams that were forecast: the newest ``LISTED`` of them,
    and the median ratios of actual to forecast cost and time over all of them."""
    streams = (
        period.streams()
        .filter(status=StreamStatus.COMPLETED, forecast__isnull=False)
        .order_by("-created_at")
    )
    rows = [_row(stream) for stream in streams]
    cost_ratios = [r.cost_ratio for r in rows if r.cost_ratio is not None]
    time_ratios = [r.time_ratio for r in rows if r.time_ratio is not None]
    return {
        "rows": rows[:LISTED],
        "count": len(rows),
        "cost_ratio": statistics.median(cost_ratios) if cost_ratios else None,
        "time_ratio": statistics.median(time_ratios) if time_ratios else None,
    }
