"""How a run ends: the stream completed (its report assembled), failed or cancelled,
each ending saved with the lease given up in the same UPDATE, then announced."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from reports.domain.events import EventType
from reports.models import Report, StreamStatus
from reports.runtime.engine.ledger import Ledger
from reports.runtime.engine.state import RunState


class Endings:
    """The three endings of a run; each returns the stream's final status."""

    def __init__(self, state: RunState, ledger: Ledger) -> None:
        self.state = state
        self.ledger = ledger

    def finish_completed(self) -> str:
        """Assemble the report from the last stage's output and end the stream."""
        state = self.state
        assert state.pipeline is not None
        stream = state.stream
        document = state.stages[state.pipeline.stages[-1].key].output
        now = timezone.now()
        fields = {
            "owner_id": stream.owner_id,
            "job_type": stream.type,
            "job_id": stream.job_id,
            "title": stream.title or stream.input_data.get("title", "Report"),
            "markdown": document,
        }
        with transaction.atomic():
            # Only this run writes the stream's report (it holds the lease), so
            # update-else-create is safe and cheaper than update_or_create's locking.
            report = Report.objects.filter(stream_id=state.stream_id).first()
            if report is None:
                report = Report.objects.create(stream_id=state.stream_id, **fields)
            else:
                Report.objects.filter(pk=report.pk).update(**fields, updated_at=now)
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

    def finish_cancelled(self) -> str:
        """End the stream as cancelled, by its user or by its budget."""
        reason = self.state.held.cancel_reason or "user"
        budget = self.ledger.budget()
        limit = f" of ${budget:.2f}" if budget is not None else ""
        # Only a budget stop is an error to explain; a user's cancel is just a state.
        message = (
            f"Stopped: this stream reached its cost budget{limit}, so nothing more is spent. "
            "Finished stages are kept; raise the budget, then Resume."
            if reason == "budget"
            else ""
        )
        self.state.save_ending(
            status=StreamStatus.CANCELLED,
            finished_at=timezone.now(),
            cancel_requested=False,
            error_kind="budget" if reason == "budget" else "",
            error=message,
            cancel_reason=reason,
        )
        self.state.emit(EventType.STREAM_CANCELLED, status=StreamStatus.CANCELLED, reason=reason)
        return StreamStatus.CANCELLED
