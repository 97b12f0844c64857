"""What the parts of one run share: the stream and its stages in memory, the rows the
run writes, and its events, published in ``seq`` order."""

from __future__ import annotations

import threading
from typing import Any

from django.db import transaction

from reports.domain.events import EventType, envelope, make_event
from reports.events.publisher import publisher
from reports.models import Stage, StageStatus, StreamingJob, StreamStatus
from reports.pipelines import Pipeline
from reports.runtime.admission import admit_waiting
from reports.runtime.hooks import stream_ended
from reports.runtime.leases import HeldLease

ENDING_EVENTS = {
    StreamStatus.COMPLETED: EventType.STREAM_COMPLETED,
    StreamStatus.FAILED: EventType.STREAM_FAILED,
    StreamStatus.CANCELLED: EventType.STREAM_CANCELLED,
    StreamStatus.AWAITING_REVIEW: EventType.STREAM_AWAITING_REVIEW,
}


class RunState:
    """One run of one stream: its lease, the stream and its stages as this run keeps
    them (only this run writes them while it holds the lease), and its event ``seq``."""

    def __init__(self, stream_id: Any, *, owner: str, held: HeldLease) -> None:
        self.stream_id = stream_id
        self.owner = owner
        self.held = held
        self._seq_lock = threading.Lock()
        # The stream comes along with its stages: one query.
        stages = list(Stage.objects.filter(stream_id=stream_id).select_related("stream").in_order())
        self.stream = stages[0].stream if stages else StreamingJob.objects.get(pk=stream_id)
        self.stages: dict[str, Stage] = {s.key: s for s in stages}
        self.seq = self.stream.seq  # as the claim left it
        self.ended = False  # saved the stream's ending and gave up the lease
        self.pipeline: Pipeline | None = None
        # The rows this run writes over and over, their querysets built once.
        self._owned_row = StreamingJob.objects.filter(pk=stream_id, lease_owner=owner)
        self._stage_rows: dict[str, Any] = {}

    def emit(self, event_type: EventType, stage: str | None = None, **fields: Any) -> None:
        """Publish one event with the next ``seq`` (in seq order across stage threads)."""
        with self._seq_lock:
            self.seq += 1
            event = make_event(
                event_type, seq=self.seq, stream_id=self.stream_id, stage=stage, **fields
            )
            publisher.publish(self.stream_id, envelope(event))

    def owned(self) -> Any:
        """This run's stream row, while the lease is ours (an UPDATE of it is a no-op
        once another runner has taken the stream)."""
        return self._owned_row

    def row(self, stage: Stage) -> Any:
        """The stage's row, as a queryset to UPDATE (built once per stage)."""
        if stage.key not in self._stage_rows:
            self._stage_rows[stage.key] = Stage.objects.filter(pk=stage.pk)
        return self._stage_rows[stage.key]

    def save_seq(self, seq: int, **fields: Any) -> None:
        """Save ``seq`` (and other fields of this run's stream) while the lease is ours."""
        self.owned().update(seq=seq, **fields)

    def save_ending(self, **fields: Any) -> None:
        """Save how the stream ended (the seq of the event announcing it) and give up
        the lease in the same UPDATE; the ending hooks record what it sends out with it."""
        with transaction.atomic():
            saved = self.owned().update(
                seq=self.seq + 1, **fields, lease_owner="", lease_expires_at=None
            )
            if saved:
                stream_ended(self.stream_id, ENDING_EVENTS[fields["status"]], self.seq + 1)
        self.ended = True
        # The slot this stream held is free: offer it to the owner's next stream.
        owner_id = self.stream.owner_id
        transaction.on_commit(lambda: admit_waiting(owner_id))

    def progress(self) -> int:
        """The stream's progress in percent: the weight of its completed stages."""
        total = sum(s.weight for s in self.stages.values()) or 1.0
        done = sum(s.weight for s in self.stages.values() if s.status == StageStatus.COMPLETED)
        return round(100 * done / total)
