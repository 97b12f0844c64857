"""Analytics reads: where pipelines spend time and money and where they fail.

Every number is computed by the database (COUNT/SUM with FILTER, GROUP BY, window
functions); Python only merges a handful of already-aggregated rows per stage.
Everything is attributed to the streams *created* in the period.

Percentiles use the nearest-rank method in SQL, on SQLite and PostgreSQL alike: a
window numbers each group's durations in order (ROW_NUMBER) and counts them
(COUNT OVER); the p-th percentile is the row whose number is ceil(p * n / 100), and
only those rows leave the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from reports.domain.money import Cost
from reports.models import (
    AttemptStatus,
    Stage,
    StageAttempt,
    StageSource,
    StageStatus,
    StreamingJob,
    StreamStatus,
)
from reports.providers.pricing import MILLION, models_cost, price_for
from reports.streams.durations import duration_percentiles

# A cheaper model is worth suggesting when it completed the stage at least this often
# (relative to the model in use, in percentage points) over at least this many runs.
ADVICE_RATE_TOLERANCE = 0.05
ADVICE_MIN_RUNS = 5
TOP_ERRORS = 3
# Errors no retry inside a run fixes: an attempt that ended this way failed its stage and
# so its stream (a transient error is retried in the run; invalid output is re-asked).
STREAM_FAILING_KINDS = ("auth", "bad_request", "config")


@dataclass(frozen=True)
class Period:
    """Streams of one job type ("" = every type) created between two dates (inclusive)."""

    job_type: str
    start: date
    end: date

    @classmethod
    def last_days(cls, days: int = 30, job_type: str = "") -> Period:
        today = timezone.localdate()
        return cls(job_type=job_type, start=today - timedelta(days=days - 1), end=today)

    def _bounds(self) -> tuple[datetime, datetime]:
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.start, time.min, tzinfo=tz)
        return start, datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz)

    def streams(self) -> QuerySet[StreamingJob]:
        start, end = self._bounds()
        found = StreamingJob.objects.filter(created_at__gte=start, created_at__lt=end)
        return found.filter(type=self.job_type) if self.job_type else found

    def stages(self) -> QuerySet[Stage]:
        """Stages run in the period: a fork's copies and a person's edits ran nowhere."""
        start, end = self._bounds()
        found = Stage.objects.filter(stream__created_at__gte=start, stream__created_at__lt=end,
                                     source=StageSource.MODEL)
        return found.filter(stream__type=self.job_type) if self.job_type else found

    def attempts(self) -> QuerySet[StageAttempt]:
        start, end = self._bounds()
        found = StageAttempt.objects.filter(
            stage__stream__created_at__gte=start, stage__stream__created_at__lt=end
        )
        return found.filter(stage__stream__type=self.job_type) if self.job_type else found


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide."""
    return part / whole if whole else None


def stream_summary(period: Period) -> dict[str, Any]:
    """How many streams ran and how they ended; rates are over finished streams. A stream
    that failed, was resumed and then finished counts as failed (``failed``) and as
    ``recovered``; ``failed_now`` is those still failed."""
    totals = period.streams().aggregate(
        streams=Count("pk"),
        completed=Count("pk", filter=Q(status=StreamStatus.COMPLETED)),
        failed=Count("pk", filter=Q(status=StreamStatus.FAILED)),
        cancelled=Count("pk", filter=Q(status=StreamStatus.CANCELLED)),
        tokens_in=Sum("tokens_in", default=0),
        tokens_out=Sum("tokens_out", default=0),
        tokens_cached=Sum("tokens_cached", default=0),
        cost_usd=Sum("cost_usd", default=Decimal(0)),
        cache_saved_usd=Sum("cache_saved_usd", default=Decimal(0)),
    )
    finished = totals["completed"] + totals["failed"] + totals["cancelled"]
    # A stream that failed and was resumed is not failed now, but it failed: it counts.
    recovered = (
        period.attempts()
        .filter(status=AttemptStatus.FAILED, error_kind__in=STREAM_FAILING_KINDS)
        .filter(stage__stream__status__in=[StreamStatus.COMPLETED, StreamStatus.CANCELLED])
        .values("stage__stream").distinct().count()
    )
    ever_failed = totals["failed"] + recovered
    return {
        **totals,
        "active": totals["streams"] - finished,
        "finished": finished,
        "failed_now": totals["failed"],
        "failed": ever_failed,
        "recovered": recovered,
        "completion_rate": rate(totals["completed"], finished),
        "failure_rate": rate(ever_failed, finished),
        "cancel_rate": rate(totals["cancelled"], finished),
    }


@dataclass
class ModelUse:
    """One model's record on one stage."""

    model: str
    started: int
    completed: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.started)

    def price_of_mix(self, model: str) -> Decimal | None:
        """What ``model`` charges for this use's tokens (USD), or None if unpriced."""
        price = price_for(model)
        if price is None:
            return None
        return (self.tokens_in * price[0] + self.tokens_out * price[1]) / MILLION


@dataclass
class Advice:
    """A cheaper model that did this stage about as well as the one in use."""

    current: str
    cheaper: str
    current_rate: float
    cheaper_rate: float
    runs: int
    saving_share: float  # fraction of this stage's spend the cheaper model would save
    saving_usd: Decimal


@dataclass
class StageRow:
    job_type: str
    key: str
    title: str
    position: int
    started: int
    completed: int
    failed: int
    cancelled: int
    tokens_in: int
    tokens_out: int
    cost_usd: Decimal
    retried: int
    retried_completed: int
    # Times a model was asked again because its JSON did not fit the stage's shape.
    reasks: int = 0
    # Input tokens served from prompt caches, and what that saved.
    tokens_cached: int = 0
    cache_saved_usd: Decimal = Decimal(0)
    p50_s: float | None = None
    p95_s: float | None = None
    duration_samples: int = 0
    attempt_errors: list[tuple[str, int]] = field(default_factory=list)
    stage_errors: list[tuple[str, int]] = field(default_factory=list)
    cost_share: float | None = None
    models: list[ModelUse] = field(default_factory=list)
    advice: Advice | None = None

    @property
    def completion_rate(self) -> float | None:
        return rate(self.completed, self.started)

    @property
    def cost(self) -> Cost:
        """The stage's spend by the one rule: "free (offline)" when its models are."""
        return models_cost([use.model for use in self.models], self.cost_usd)

    @property
    def failure_rate(self) -> float | None:
        return rate(self.failed, self.started)

    @property
    def cancel_rate(self) -> float | None:
        return rate(self.cancelled, self.started)

    @property
    def retry_success_rate(self) -> float | None:
        return rate(self.retried_completed, self.retried)


def stage_rows(period: Period) -> list[StageRow]:
    """One row per (job type, stage): funnel, durations, errors, tokens, cost, advice."""
    completed = Q(status=StageStatus.COMPLETED)
    retried = Q(attempts__gt=1)
    grouped = (
        period.stages()
        .order_by()
        .values("stream__type", "key")
        .annotate(
            position=Min("position"),
            title=Max("title"),
            started=Count("pk", filter=Q(started_at__isnull=False)),
            completed=Count("pk", filter=completed),
            failed=Count("pk", filter=Q(status=StageStatus.FAILED)),
            cancelled=Count("pk", filter=Q(status=StageStatus.CANCELLED)),
            tokens_in=Sum("tokens_in", default=0),
            tokens_out=Sum("tokens_out", default=0),
            cost_usd=Sum("cost_usd", default=Decimal(0)),
            retried=Count("pk", filter=retried),
            retried_completed=Count("pk", filter=retried & completed),
            reasks=Sum("reasks", default=0),
            tokens_cached=Sum("tokens_cached", default=0),
            cache_saved_usd=Sum("cache_saved_usd", default=Decimal(0)),
        )
        .order_by("stream__type", "position")
    )
    rows: dict[tuple[Any, ...], StageRow] = {}
    for found in grouped:
        numbers: dict[str, Any] = dict(found)
        job_type = numbers.pop("stream__type")
        rows[(job_type, numbers["key"])] = StageRow(job_type=job_type, **numbers)
    durations = duration_percentiles(period.stages(), ("stream__type", "key"), (50, 95))
    for group, (seconds, samples) in durations.items():
        if group in rows:
            rows[group].p50_s, rows[group].p95_s = seconds.get(50), seconds.get(95)
            rows[group].duration_samples = samples
    _add_errors(period, rows)
    _add_costs(period, rows)
    return list(rows.values())


def _add_errors(period: Period, rows: dict[tuple[Any, ...], StageRow]) -> None:
    by_attempt = (
        period.attempts()
        .exclude(error_kind="")
        .order_by()
        .values_list("stage__stream__type", "stage__key", "error_kind")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_kind")
    )
    for job_type, key, kind, n in by_attempt:
        row = rows.get((job_type, key))
        if row is not None and len(row.attempt_errors) < TOP_ERRORS:
            row.attempt_errors.append((kind, n))
    by_stage = (
        period.stages()
        .exclude(error_kind="")
        .order_by()
        .values_list("stream__type", "key", "error_kind")
        .annotate(n=Count("pk"))
        .order_by("-n", "error_kind")
    )
    for job_type, key, kind, n in by_stage:
        row = rows.get((job_type, key))
        if row is not None and len(row.stage_errors) < TOP_ERRORS:
            row.stage_errors.append((kind, n))


def _add_costs(period: Period, rows: dict[tuple[Any, ...], StageRow]) -> None:
    """Cost share per stage, and a cheaper model that did as well, if the data has one."""
    total = sum((row.cost_usd for row in rows.values()), Decimal(0))
    for row in rows.values():
        row.cost_share = float(row.cost_usd / total) if total else None
    by_model = (
        period.stages()
        .filter(started_at__isnull=False)
        .exclude(model="")
        .order_by()
        .values_list("stream__type", "key", "model")
        .annotate(
            started=Count("pk"),
            completed=Count("pk", filter=Q(status=StageStatus.COMPLETED)),
            tokens_in=Sum("tokens_in", default=0),
            tokens_out=Sum("tokens_out", default=0),
            cost_usd=Sum("cost_usd", default=Decimal(0)),
        )
        .order_by("-cost_usd", "-started", "model")
    )
    for job_type, key, model, *totals in by_model:
        use_of = rows.get((job_type, key))
        if use_of is not None:
            use_of.models.append(ModelUse(model, *totals))
    for row in rows.values():
        row.advice = advise(row.models)


def advise(models: list[ModelUse]) -> Advice | None:
    """The cheapest model, cheaper per token than the one spending the most here, that
    completed the stage about as often (within ``ADVICE_RATE_TOLERANCE``)."""
    if not models or models[0].completion_rate is None:
        return None
    current = models[0]  # ordered by spend
    current_price = current.price_of_mix(current.model)
    current_rate = current.completion_rate or 0.0
    if not current_price:
        return None
    best: tuple[Decimal, ModelUse] | None = None
    for other in models[1:]:
        other_rate = other.completion_rate
        price = current.price_of_mix(other.model)  # the same tokens, at the other's prices
        if (
            price is None
            or price >= current_price
            or other.started < ADVICE_MIN_RUNS
            or other_rate is None
            or other_rate < current_rate - ADVICE_RATE_TOLERANCE
        ):
            continue
        if best is None or price < best[0]:
            best = (price, other)
    if best is None:
        return None
    price, other = best
    share = float(1 - price / current_price)
    return Advice(
        current=current.model,
        cheaper=other.model,
        current_rate=current_rate,
        cheaper_rate=other.completion_rate or 0.0,
        runs=other.started,
        saving_share=share,
        saving_usd=(current.cost_usd * Decimal(share)).quantize(Decimal("0.000001")),
    )


def per_day(period: Period) -> list[dict[str, Any]]:
    """Streams, tokens and cost per day the streams were created (one query)."""
    rows = (
        period.stages()
        .order_by()
        .annotate(day=TruncDate("stream__created_at"))
        .values("day")
        .annotate(
            streams=Count("stream", distinct=True),
            tokens_in=Sum("tokens_in", default=0),
            tokens_out=Sum("tokens_out", default=0),
            cost_usd=Sum("cost_usd", default=Decimal(0)),
        )
        .order_by("day")
    )
    return [dict(row) for row in rows]


def retry_totals(rows: list[StageRow]) -> dict[str, Any]:
    """Stages that needed more than one attempt, and how many of those completed."""
    retried = sum(row.retried for row in rows)
    recovered = sum(row.retried_completed for row in rows)
    return {"retried": retried, "retried_completed": recovered,
            "retry_success_rate": rate(recovered, retried),
            "reasks": sum(row.reasks for row in rows)}


def models_used(period: Period) -> list[str]:
    """The models the period's stages ran with (how its totals are written: free when
    every one is)."""
    used = period.stages().exclude(model="").order_by().values_list("model", flat=True)
    return sorted(set(used.distinct()))
