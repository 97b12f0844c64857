"""The stream snapshot of the API/WebSocket contract (docs/contracts.md, "The snapshot"): one model
set that both builds the payload and is the API's response schema.

Built from rows already loaded, without queries; ``reports.streams.selectors`` loads
them (``stream_snapshot``, ``stage_detail``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from reports.domain.config import config
from reports.domain.money import money_str
from reports.models import Stage, StreamingJob
from reports.streams.costs import stage_cost, stream_cost
from reports.streams.eta import Estimate


def budget_of(stream: StreamingJob) -> Decimal | None:
    """What the stream may spend: its own budget, else ``STREAM_BUDGET_USD`` (None: no cap)."""
    return stream.budget_usd if stream.budget_usd is not None else config().stream_budget_usd


def iso(value: datetime | None) -> str | None:
    """A timestamp as the contract writes it (``isoformat``), or None."""
    return value.isoformat() if value else None


class StageSnapshot(BaseModel):
    """One stage in a snapshot."""

    key: str
    title: str
    position: int
    status: str
    attempts: int
    error: str | None
    error_kind: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: str | None
    model: str | None
    # Of tokens_in: served from the provider's prompt cache (priced at the cached rate).
    tokens_cached: int = 0
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    # Running past its historical p95 ("taking longer than usual").
    slow: bool = False
    # Why cost_usd is what it is: priced, estimated, free, local, no_price (null
    # cost_usd, with cost_note saying how to set a price), or not_run.
    cost_status: str = "not_run"
    cost_note: str | None = None
    # Its text stopped at the output limit (kept, and marked in the document).
    cut_off: bool = False
    # Where its output came from: model (this run), edited (a person's), or copied
    # (kept from the stream this one was forked from: no model call here).
    source: str = "model"

    @classmethod
    def fields_of(cls, stage: Stage, *, slow: bool = False) -> dict[str, Any]:
        """The snapshot fields read off ``stage``; ``slow`` comes from the stream's ETA."""
        duration = stage.duration_s()
        cost = stage_cost(stage)
        return {
            "key": stage.key,
            "title": stage.title,
            "position": stage.position,
            "status": stage.status,
            "attempts": stage.attempts,
            "error": stage.error or None,
            "error_kind": stage.error_kind or None,
            "tokens_in": stage.tokens_in,
            "tokens_out": stage.tokens_out,
            "cost_usd": money_str(stage.cost_usd),
            "model": stage.model or None,
            "tokens_cached": stage.tokens_cached,
            "started_at": iso(stage.started_at),
            "finished_at": iso(stage.finished_at),
            "duration_s": None if duration is None else round(duration, 2),
            "slow": slow,
            "cost_status": cost.status if stage.attempts else "not_run",
            "cost_note": (cost.note or None) if stage.attempts else None,
            "cut_off": stage.cut_off,
            "source": stage.source,
        }

    @classmethod
    def of(cls, stage: Stage, *, slow: bool = False) -> StageSnapshot:
        """The snapshot of one stage."""
        return cls(**cls.fields_of(stage, slow=slow))


class StageDetail(StageSnapshot):
    """One stage in full (``GET .../stages/<key>/``): its snapshot, its text and data."""

    output: str
    data: Any = None

    @classmethod
    def of(cls, stage: Stage, *, slow: bool = False) -> StageDetail:
        """The detail of ``stage``."""
        return cls(**cls.fields_of(stage, slow=slow), output=stage.output, data=stage.data)


class StreamSnapshot(BaseModel):
    """The full state of a stream, as the API and the WebSocket send it."""

    stream_id: str
    job_id: str
    type: str
    title: str
    status: str
    progress: int
    current_stage: str | None
    eta_seconds: float | None
    error: str | None
    error_kind: str | None
    report_id: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: str | None
    cost_complete: bool
    # As a stage's: why cost_usd is what it is (priced, estimated, free, local, no_price).
    cost_status: str = "priced"
    cost_note: str | None = None
    # Of tokens_in: served from the provider's prompt cache (priced at the cached rate).
    tokens_cached: int = 0
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    is_generating: bool
    is_completed: bool
    is_failed: bool
    seq: int
    # Null unless the stream waits for one of its owner's slots (1 = next).
    queue_position: int | None = None
    # What it may spend (USD; null: no cap). Reaching it ends the stream failed,
    # error_kind "budget_exceeded"; Resume with a higher budget_usd goes on.
    budget_usd: str | None = None
    # Review points: the stages that are written and wait for their owner's review (the
    # stream is "awaiting_review" once nothing else can run).
    awaiting_review: list[str] = []
    stages: list[StageSnapshot]

    @classmethod
    def of(
        cls,
        stream: StreamingJob,
        stages: list[Stage],
        *,
        report_id: Any = None,
        timing: Estimate | None = None,
        queue_position: int | None = None,
    ) -> StreamSnapshot:
        """The snapshot of ``stream`` from rows already loaded (no query of its own)."""
        slow = timing.slow if timing is not None else frozenset()
        cost = stream_cost(stream, list(stages))
        return cls(
            stream_id=str(stream.pk),
            job_id=str(stream.job_id),
            type=stream.type,
            title=stream.title,
            status=stream.status,
            progress=stream.progress,
            current_stage=stream.current_stage or None,
            eta_seconds=timing.eta_seconds if timing is not None else None,
            error=stream.error or None,
            error_kind=stream.error_kind or None,
            report_id=str(report_id) if report_id else None,
            tokens_in=stream.tokens_in,
            tokens_out=stream.tokens_out,
            cost_usd=cost.api,
            cost_complete=stream.cost_complete,
            cost_status=cost.status,
            cost_note=cost.note or None,
            tokens_cached=stream.tokens_cached,
            created_at=iso(stream.created_at),
            started_at=iso(stream.started_at),
            finished_at=iso(stream.finished_at),
            is_generating=stream.is_generating,
            is_completed=stream.is_completed,
            is_failed=stream.is_failed,
            seq=stream.seq,
            queue_position=queue_position,
            budget_usd=money_str(budget_of(stream)),
            awaiting_review=stream.review_gates(stages),
            stages=[StageSnapshot.of(stage, slow=stage.key in slow) for stage in stages],
        )
