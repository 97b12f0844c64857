"""How a stage starts and ends (completed, failed, cancelled): saved first, then
announced, so a snapshot taken after an event holds what the event says."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from reports.domain.events import EventType
from reports.domain.messages import stage_failure_message
from reports.domain.money import money_str
from reports.models import Stage, StageAttempt, StageSource, StageStatus, StreamStatus
from reports.runtime.engine.ledger import AttemptOutcome, Ledger
from reports.runtime.engine.state import RunState


class StageSteps:
    """The changes of a stage's status, each saved in one UPDATE (with what its last
    attempt spent, when it had one) and then published."""

    def __init__(self, state: RunState, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def mark_running(self, stage: Stage, *, attempt_model: str | None = None) -> None:
        """Start the stage; with ``attempt_model``, count its first attempt in the same
        UPDATE (``call_model`` then only records the attempt)."""
        now = timezone.now()
        counted = self.ledger.count_attempt(stage, attempt_model) if attempt_model else {}
        self.state.row(stage).update(
            status=StageStatus.RUNNING,
            started_at=now,
            finished_at=None,
            output="",
            data=None,
            error="",
            error_kind="",
            cut_off=False,
            source=StageSource.MODEL,
            **counted,
        )
        stage.status, stage.started_at, stage.output = StageStatus.RUNNING, now, ""
        stage.source = StageSource.MODEL
        self.state.owned().update(current_stage=stage.key)
        self.state.emit(
            EventType.STAGE_STARTED, stage=stage.key, title=stage.title, position=stage.position
        )

    def complete_stage(
        self,
        stage: Stage,
        text: str,
        data: Any,
        last_attempt: tuple[StageAttempt, AttemptOutcome] | None = None,
        *,
        cut_off: bool = False,
    ) -> str:
        """Save the stage's output (and how its ``last_attempt`` ended) and the stream's
        progress in one transaction, then announce it. ``cut_off``: the text stopped at
        the output limit, and is kept so marked."""
        state = self.state
        now = timezone.now()
        stage.status, stage.output, stage.data, stage.finished_at, stage.cut_off = (
            StageStatus.COMPLETED,
            text,
            data,
            now,
            cut_off,
        )
        update = {
            "status": StageStatus.COMPLETED,
            "output": text,
            "data": data,
            "finished_at": now,
            "error": "",
            "error_kind": "",
            "cut_off": cut_off,
        }
        # The stage.completed event's seq: a snapshot taken from now on holds the stage.
        run_update = {"progress": state.progress(), "seq": state.seq + 1}
        with transaction.atomic():
            if last_attempt is not None:
                attempt, outcome = last_attempt
                self.ledger.end_attempt(
                    stage, attempt, outcome, stage_update=update, run_update=run_update
                )
            else:
                state.row(stage).update(**update, cost_usd=Decimal(0))
                stage.cost_usd = Decimal(0)
                state.save_seq(**run_update)
        state.emit(
            EventType.STAGE_COMPLETED,
            stage=stage.key,
            tokens_in=stage.tokens_in,
            tokens_out=stage.tokens_out,
            tokens_cached=stage.tokens_cached,
            duration_s=stage.duration_s(),
            cost_usd=money_str(stage.cost_usd),
            cut_off=cut_off,
        )
        state.emit(
            EventType.STREAM_PROGRESS, status=StreamStatus.RUNNING, progress=state.progress()
        )
        return StageStatus.COMPLETED

    def fail_stage(self, stage: Stage, kind: str, detail: str, attempts: int) -> str:
        """Save the stage as failed, with the message its page shows, and announce it."""
        message = stage_failure_message(stage.title, kind, detail, attempts)
        now = timezone.now()
        stage.status, stage.error_kind, stage.error, stage.finished_at = (
            StageStatus.FAILED,
            kind,
            message,
            now,
        )
        self.state.row(stage).update(
            status=StageStatus.FAILED, error_kind=kind, error=message, finished_at=now
        )
        self.state.emit(EventType.STAGE_FAILED, stage=stage.key, error=message, error_kind=kind)
        return StageStatus.FAILED

    def cancel_stage(self, stage: Stage, partial: str | None = None) -> str:
        """Save the stage as cancelled (with the ``partial`` text that arrived, if any)."""
        now = timezone.now()
        fields: dict[str, Any] = {"status": StageStatus.CANCELLED, "finished_at": now}
        if partial is not None:
            fields["output"] = partial
        self.state.row(stage).update(**fields)
        stage.status = StageStatus.CANCELLED
        self.state.emit(EventType.STAGE_CANCELLED, stage=stage.key)
        return StageStatus.CANCELLED
