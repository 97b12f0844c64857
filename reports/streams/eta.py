"""Estimated time remaining for a stream, learned from history.

A stage's expected duration is the median (p50) of completed stages of the same job
type, stage key and model. Before there is history for a stage, its pipeline weight
is scaled by the observed pace (seconds per unit of weight: this stream's finished
stages, else the stages that do have history, else the pace of the model that runs as
learned from its stages of every job type). With none of these there is no estimate yet
("estimating…" on the card, ``eta_seconds`` null) until the stream's first stage ends:
a default pace was off by half and more (issue 31).
Remaining time is the
longest chain of unfinished stages through the dependency graph (for a linear
pipeline: the remaining stages plus what is left of the running one). A running stage
past its historical p95 is "slow" ("taking longer than usual").
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from django.utils import timezone

from reports.domain.config import config
from reports.models import Stage, StageSource, StageStatus, StreamingJob
from reports.pipelines.registry import UnknownJobType, get_pipeline
from reports.providers import Provider, ProviderError, get_provider
from reports.streams.durations import duration_percentiles

# Seconds per unit of stage weight when nothing better is known (offline-model pace).
DEFAULT_SECONDS_PER_WEIGHT = 2.0
# Only recent history counts: models and prompts change.
HISTORY_DAYS = 30
# "Taking longer than usual": past the p95 of its earlier runs once there are this many;
# with fewer (or none), past SLOW_FACTOR times what is expected of it.
SLOW_MIN_SAMPLES = 5
SLOW_FACTOR = 2.5
# Never "slow" before this many seconds (a 1-second stage at 3 s is not news).
SLOW_MIN_SECONDS = 10.0
# A running stage past its expected time is given this share of it again, never zero:
# it is still running, so something is left.
OVERRUN_SHARE = 0.25
DONE = (StageStatus.COMPLETED, StageStatus.SKIPPED)


@dataclass(frozen=True)
class StageHistory:
    """Completed durations of one (job type, stage key, model): p50, p95, how many."""

    p50: float
    p95: float
    samples: int


History = dict[tuple[str, str], StageHistory]


@dataclass(frozen=True)
class Estimate:
    """The ETA of a stream, each stage's expected duration, and the slow stages."""

    eta_seconds: float | None
    # What the stages that have not started will take: the countdown stops here until
    # the running stage finishes (the card never says "almost done" with stages to go).
    eta_floor: float | None = None
    expected: dict[str, float] = field(default_factory=dict)
    slow: frozenset[str] = frozenset()
    # Seconds after a stage's start when it becomes slow (its p95), if known.
    slow_after: dict[str, float] = field(default_factory=dict)
    # Running, but nothing to estimate from yet (no history of this job type or of the
    # model, and no finished stage of its own): the card says "estimating…" rather than
    # a guess that can be off by half (issue 31).
    estimating: bool = False


_cache: dict[str, tuple[float, History]] = {}
_cache_lock = threading.Lock()
# Under this key the cache keeps each model's pace over every job type.
MODEL_PACES = "*model-paces*"


def load_model_paces() -> History:
    """Seconds per unit of stage weight of each model's recent completed stages, over
    every job type (one query): how fast a model runs where this stage has no history.
    Kept as ``StageHistory`` (p50 = p95 = the pace) under ``("", model)``."""
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    rows = (
        Stage.objects.filter(status=StageStatus.COMPLETED, finished_at__gte=since,
                             started_at__isnull=False, weight__gt=0, source=StageSource.MODEL)
        .exclude(model="")
        .order_by()
        .values("model")
        .annotate(
            took=Sum(ExpressionWrapper(F("finished_at") - F("started_at"),
                                       output_field=DurationField())),
            weight=Sum("weight"), samples=Count("pk"),
        )
    )
    return {
        ("", str(row["model"])): StageHistory(pace, pace, row["samples"])
        for row in rows
        if row["took"] is not None and row["weight"]
        and (pace := row["took"].total_seconds() / row["weight"]) > 0
    }


def load_history(job_type: str) -> History:
    """p50/p95 per (stage key, model) of the job type's recent completed stages (one query)."""
    since = timezone.now() - timedelta(days=HISTORY_DAYS)
    # Runs here only: a fork's copies would count their run again.
    stages = Stage.objects.filter(stream__type=job_type, finished_at__gte=since,
                                  source=StageSource.MODEL)
    found = duration_percentiles(stages, ("key", "model"), (50, 95))
    return {
        (str(key), str(model)): StageHistory(p50=values[50], p95=values[95], samples=count)
        for (key, model), (values, count) in found.items()
    }


def stage_history(job_type: str) -> History:
    """``load_history``, cached per process for ``ETA_HISTORY_CACHE_SECONDS`` (history
    moves slowly, and every event of every stream would otherwise ask for it)."""
    ttl = config().eta_history_cache_seconds
    now = time.monotonic()
    if ttl > 0:
        with _cache_lock:
            hit = _cache.get(job_type)
        if hit is not None and hit[0] > now:
            return hit[1]
    history = load_model_paces() if job_type == MODEL_PACES else load_history(job_type)
    if ttl > 0:
        with _cache_lock:
            _cache[job_type] = (now + ttl, history)
    return history


def clear_history_cache() -> None:
    with _cache_lock:
        _cache.clear()


def predicted_model(stream: StreamingJob, stage: Stage, stages: list[Stage]) -> str:
    """The model a stage ran with, or the one the engine will pick (same order of choice)."""
    if stage.model:
        return stage.model
    provider = _provider()
    if provider is not None and provider.serves_one_model:
        return provider.default_model  # a local model runs every stage
    spec_model = ""
    try:
        spec = get_pipeline(stream.type).stage(stage.key)
    except (UnknownJobType, KeyError):
        spec = None
    if spec is not None:
        if not spec.calls_model:
            return ""  # assembly: no model, its history is kept under ""
        spec_model = spec.model
    chosen = config().model_for(stream.type, stage.key, spec_model)
    if chosen:
        return str(chosen)
    # The site's default model: the one this stream's other stages already used.
    used = Counter(s.model for s in stages if s.model)
    if used:
        return used.most_common(1)[0][0]
    return _provider_default_model()


def _provider() -> Provider | None:
    try:
        return get_provider()
    except ProviderError:
        return None


def _provider_default_model() -> str:
    provider = _provider()
    return provider.default_model if provider is not None else ""


def estimate(
    stream: StreamingJob, stages: list[Stage], history: History | None = None
) -> Estimate:
    """Everything about time left for one stream; ``history`` is loaded when not given."""
    if not stream.is_generating:
        return Estimate(eta_seconds=None)
    if history is None:
        history = stage_history(stream.type)
    now = timezone.now()
    known: dict[str, StageHistory] = {}
    models: list[str] = []
    for stage in stages:
        model = predicted_model(stream, stage, stages)
        found = history.get((stage.key, model))
        if found is not None:
            known[stage.key] = found
        if model and stage.status not in DONE:
            models.append(model)
    pace = _pace(stages, known) or _model_pace(models)
    guessed = not pace  # no evidence at all: weights at the default pace, for "slow" only
    pace = pace or DEFAULT_SECONDS_PER_WEIGHT
    expected = {s.key: known[s.key].p50 if s.key in known else s.weight * pace for s in stages}
    left: dict[str, float] = {}
    not_started: dict[str, float] = {}
    slow: set[str] = set()
    slow_after: dict[str, float] = {}
    for stage in stages:
        if stage.status in DONE:
            left[stage.key] = not_started[stage.key] = 0.0
            continue
        stat = known.get(stage.key)
        if stat is not None and stat.samples >= SLOW_MIN_SAMPLES:
            after = stat.p95
        else:
            after = SLOW_FACTOR * expected[stage.key]
        slow_after[stage.key] = max(after, SLOW_MIN_SECONDS)
        if stage.status == StageStatus.RUNNING and stage.started_at is not None:
            elapsed = max((now - stage.started_at).total_seconds(), 0.0)
            overrun = OVERRUN_SHARE * expected[stage.key]
            left[stage.key] = max(expected[stage.key] - elapsed, overrun)
            not_started[stage.key] = 0.0
            if elapsed > slow_after[stage.key]:
                slow.add(stage.key)
        else:
            left[stage.key] = not_started[stage.key] = expected[stage.key]
    if guessed:
        return Estimate(eta_seconds=None, expected=expected, slow=frozenset(slow),
                        slow_after=slow_after, estimating=True)
    return Estimate(
        eta_seconds=round(_longest_chain(stages, left), 1),
        eta_floor=round(_longest_chain(stages, not_started), 1),
        expected=expected,
        slow=frozenset(slow),
        slow_after=slow_after,
    )


def eta_seconds(
    stream: StreamingJob, stages: list[Stage], history: History | None = None
) -> float | None:
    """Seconds left, or None when the stream is not running."""
    return estimate(stream, stages, history).eta_seconds


def _pace(stages: list[Stage], known: dict[str, StageHistory]) -> float:
    """Seconds per unit of weight: this stream's own finished stages, else history of
    this job type (0: neither)."""
    done = [
        s for s in stages if s.status == StageStatus.COMPLETED and s.started_at and s.finished_at
    ]
    weight = sum(s.weight for s in done)
    if weight > 0:
        return sum(s.duration_s() or 0.0 for s in done) / weight
    weight = sum(s.weight for s in stages if s.key in known)
    if weight > 0:
        return sum(known[s.key].p50 for s in stages if s.key in known) / weight
    return 0.0


def _model_pace(models: list[str]) -> float:
    """The pace of the model that will run most of the stages left, learned from its
    stages of every job type (0 when it has none: a model never run here)."""
    if not models:
        return 0.0
    paces = stage_history(MODEL_PACES)
    for model, _ in Counter(models).most_common():
        found = paces.get(("", model))
        if found is not None:
            return found.p50
    return 0.0


def _longest_chain(stages: list[Stage], left: dict[str, float]) -> float:
    """The remaining time along the dependency graph: stages whose inputs are ready run
    together, so the longest chain of unfinished work decides when the stream ends."""
    finish: dict[str, float] = {}
    for stage in sorted(stages, key=lambda s: s.position):  # dependencies come earlier
        before = [finish[key] for key in (stage.depends_on or []) if key in finish]
        finish[stage.key] = max(before, default=0.0) + left[stage.key]
    return max(finish.values(), default=0.0)


def elapsed(stages: list[Stage]) -> tuple[float | None, bool]:
    """Seconds of work behind the stream's stages, and whether the clock is running.

    The union of the stages' run intervals: time spent paused, cancelled or finished
    before a Resume or a Retry does not count, and stages that ran side by side count
    once. None before any stage started."""
    now = timezone.now()
    spans = sorted(
        (s.started_at, s.finished_at or now) for s in stages if s.started_at is not None
    )
    if not spans:
        return None, False
    total, (start, end) = 0.0, spans[0]
    for begin, finish in spans[1:]:
        if begin > end:
            total += (end - start).total_seconds()
            start, end = begin, finish
        else:
            end = max(end, finish)
    total += (end - start).total_seconds()
    running = any(s.status == StageStatus.RUNNING and s.finished_at is None for s in stages)
    return max(total, 0.0), running
