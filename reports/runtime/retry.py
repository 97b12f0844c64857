"""The retry policy for transient provider errors: exponential backoff, full jitter,
``Retry-After`` honoured, a bounded number of attempts."""

from __future__ import annotations

import random

from reports.domain.config import config


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """How long to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
    if retry_after is not None and retry_after >= 0:
        return float(retry_after)
    ceiling = min(
        config().backoff_max_seconds, config().backoff_base_seconds * 2 ** (attempt - 1)
    )
    # Half fixed, half random: spreads retries of many streams without ever waiting 0.
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def max_attempts() -> int:
    return max(1, config().max_attempts)
