"""How a run ends: the stream completed (its report assembled), failed or cancelled,
each ending saved with the lease given up in the same UPDATE, then announced."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from reports.documents.versions import record_version
from reports.domain.events import EventType
from reports.domain.money import money_str, usd_label
from reports.models import StreamingJob, StreamStatus
from reports.runtime.engine.ledger import BUDGET, BUDGET_EXCEEDED, Ledger
from reports.runtime.engine.state import RunState


class Endings:
    """The three endings of a run; each returns the stream's final status."""

    def __init__(self, state: RunState, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def finish_completed(self) -> str:
        """Save the last stage's output as the job's next document version; end the stream."""
        state = self.state
        assert state.pipeline is not None
        stream = state.stream
        document = state.stages[state.pipeline.stages[-1].key].output
        now = timezone.now()
        with transaction.atomic():
            # A new version every time: a retry or fork never overwrites a document.
            report = record_version(
                stream,
                title=stream.title or stream.input_data.get("title", "Report"),
                markdown=document,
            )
            state.save_ending(
                status=StreamStatus.COMPLETED,
                progress=100,
                finished_at=now,
                current_stage="",
                cancel_requested=False,
            )
        state.emit(
            EventType.STREAM_COMPLETED,
            status=StreamStatus.COMPLETED,
            progress=100,
            report_id=str(report.pk),
        )
        return StreamStatus.COMPLETED

    def finish_failed(self, kind: str, message: str, stage: str | None = None) -> str:
        """End the stream as failed (it stays resumable); ``stage``: the one that failed."""
        self.state.save_ending(
            status=StreamStatus.FAILED,
            error_kind=kind,
            error=message,
            finished_at=timezone.now(),
        )
        self.state.emit(
            EventType.STREAM_FAILED,
            status=StreamStatus.FAILED,
            error=message,
            error_kind=kind,
            failed_stage=stage,
        )
        return StreamStatus.FAILED

    def finish_awaiting_review(self, keys: list[str]) -> str:
        """Stop before the stages that depend on ``keys`` until they are reviewed: the
        lease is given up with the ending, so the wait holds nothing."""
        self.state.save_ending(
            status=StreamStatus.AWAITING_REVIEW,
            current_stage="",
            cancel_requested=False,
            waiting_for_slot=False,
            progress=self.state.progress(),
        )
        self.state.emit(
            EventType.STREAM_AWAITING_REVIEW,
            status=StreamStatus.AWAITING_REVIEW,
            awaiting_review=keys,
            progress=self.state.progress(),
        )
        return StreamStatus.AWAITING_REVIEW

    def finish_cancelled(self) -> str:
        """End the stream as cancelled by its user; one its budget stopped ends failed."""
        reason = self.state.held.cancel_reason or "user"
        if reason == BUDGET:
            return self.finish_over_budget()
        self.state.save_ending(
            status=StreamStatus.CANCELLED,
            finished_at=timezone.now(),
            cancel_requested=False,
            error_kind="",
            error="",
            cancel_reason=reason,
        )
        self.state.emit(EventType.STREAM_CANCELLED, status=StreamStatus.CANCELLED, reason=reason)
        return StreamStatus.CANCELLED

    def finish_over_budget(self) -> str:
        """End the stream as failed (``budget_exceeded``), naming what it spent and its
        budget; the stage that was running keeps its partial text, and Resume with a
        higher budget goes on from it."""
        budget = self.ledger.budget()
        spent = StreamingJob.objects.values_list("cost_usd", flat=True).get(
            pk=self.state.stream_id
        )
        limit = usd_label(budget) if budget is not None else "its budget"
        message = (
            f"Stopped at its budget: {usd_label(spent)} spent of a {limit} budget. "
            "Finished stages are kept and the stage that was running keeps its partial "
            "text; resume with a higher budget to go on."
        )
        self.state.save_ending(
            status=StreamStatus.FAILED,
            finished_at=timezone.now(),
            cancel_requested=False,
            cancel_reason=BUDGET,
            error_kind=BUDGET_EXCEEDED,
            error=message,
        )
        self.state.emit(
            EventType.STREAM_FAILED,
            status=StreamStatus.FAILED,
            error=message,
            error_kind=BUDGET_EXCEEDED,
            failed_stage=None,
            spent_usd=money_str(spent),
            budget_usd=money_str(budget),
        )
        return StreamStatus.FAILED
