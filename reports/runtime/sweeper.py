"""Recovery: re-enqueue active streams whose runner died (an expired lease) or that
no runner ever claimed, and admit waiting streams into free slots. Beat runs it in
distributed mode, a thread in embedded mode."""

from __future__ import annotations

import uuid

from django.utils import timezone

from reports.models import StreamingJob
from reports.runtime.admission import admit_waiting, owners_waiting
from reports.runtime.runners.base import enqueue


def sweep_stale_streams(*, pending_grace: float = 60.0) -> list[uuid.UUID]:
    """Re-enqueue active streams whose runner died (expired lease) or never started."""
    now = timezone.now()
    ids = list(
        StreamingJob.objects.needing_recovery(now=now, pending_grace=pending_grace).values_list(
            "pk", flat=True
        )
    )
    if ids:
        StreamingJob.objects.filter(pk__in=ids).update(enqueued_at=now)
        for stream_id in ids:
            enqueue(stream_id)
    # Slots freed by an ending whose admission did not run (its process died).
    for owner_id in owners_waiting():
        ids += admit_waiting(owner_id)
    return ids
