"""Estimated time remaining for a stream.

Each stage's expected duration is the median of completed stages of the same job
type, stage key and model; before there is history, the stream's own pace spread
over the pipeline's weights. Remaining = the stages still to run plus what is left
of the running one.
"""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median
from typing import Any

from django.db.models import F

from reports.models import Stage, StageStatus, StreamingJob

# Seconds per unit of stage weight before any history exists (offline-model pace).
DEFAULT_SECONDS_PER_WEIGHT = 2.0
HISTORY_SAMPLE = 50


def expected_durations(job_type: str, keys: Iterable[str]) -> dict[str, float]:
    """Median duration of recent completed stages per key (one query)."""
    rows = (
        Stage.objects.filter(
            stream__type=job_type, key__in=list(keys), status=StageStatus.COMPLETED,
            started_at__isnull=False, finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("key", "started_at", "finished_at")[: HISTORY_SAMPLE * 10]
    )
    samples: dict[str, list[float]] = {}
    for key, started, finished in rows:
        bucket = samples.setdefault(key, [])
        if len(bucket) < HISTORY_SAMPLE:
            bucket.append((finished - started).total_seconds())
    return {key: median(values) for key, values in samples.items() if values}


def eta_seconds(stream: StreamingJob, stages: list[Stage], history: dict[str, float] | None = None) -> float | None:
    """Seconds left, or None when the stream is not running."""
    if not stream.is_generating:
        return None
    history = history if history is not None else expected_durations(stream.type, [s.key for s in stages])
    pace = _own_pace(stages)
    remaining = 0.0
    for stage in stages:
        if stage.status in (StageStatus.COMPLETED, StageStatus.SKIPPED):
            continue
        expected = history.get(stage.key, stage.weight * pace)
        if stage.status == StageStatus.RUNNING and stage.started_at is not None:
            elapsed = stage.duration_s() or 0.0
            remaining += max(expected - elapsed, 0.0)
        else:
            remaining += expected
    return round(remaining, 1)


def _own_pace(stages: list[Stage]) -> float:
    done = [s for s in stages if s.status == StageStatus.COMPLETED and s.started_at and s.finished_at]
    weight = sum(s.weight for s in done)
    if weight <= 0:
        return DEFAULT_SECONDS_PER_WEIGHT
    return sum(s.duration_s() or 0.0 for s in done) / weight


def annotate_durations(queryset: Any) -> Any:
    return queryset.annotate(duration=F("finished_at") - F("started_at"))
