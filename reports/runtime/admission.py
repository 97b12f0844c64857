"""Fair sharing: at most ``MAX_ACTIVE_STREAMS_PER_USER`` streams of one user run at once.

Every new or restarted stream is saved *waiting for a slot* and then offered one:
``admit_waiting`` lets in the owner's oldest waiting streams while the owner has free
slots, and hands them to a runner. A waiting stream is never enqueued, so it takes no
runner thread or worker slot: one user's queue cannot delay another user's streams.
A slot frees when a stream ends (``stream_ended``); the sweeper admits too, so a
crash between an ending and its admission only delays the next stream by one sweep.

Waiting streams are told their place (``queue_position``, 1 = next) by a
``stream.progress`` event whenever it changes.
"""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reports.domain.config import config
from reports.domain.events import EventType, make_event
from reports.events.publisher import publish_on_commit
from reports.models import StreamingJob
from reports.runtime.runners.base import enqueue

logger = logging.getLogger(__name__)


def waiting(owner_id: Any) -> Any:
    """The owner's streams waiting for a slot, first come first served."""
    return (
        StreamingJob.objects.active()
        .filter(owner_id=owner_id, waiting_for_slot=True)
        .order_by("created_at", "pk")
    )


def admit_waiting(owner_id: Any) -> list[uuid.UUID]:
    """Admit the owner's oldest waiting streams into free slots; returns their ids.

    The owner's row is locked for the count, so two admissions of one owner (two web
    processes, a web process and a worker) never both take the last slot.
    """
    limit = config().max_active_streams_per_user
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner_id).exists()
        queue = waiting(owner_id)
        if limit:
            running = (
                StreamingJob.objects.active()
                .filter(owner_id=owner_id, waiting_for_slot=False)
                .count()
            )
            queue = queue[: max(0, limit - running)]
        admitted = list(queue.values_list("pk", flat=True))
        if admitted:
            StreamingJob.objects.filter(pk__in=admitted).update(
                waiting_for_slot=False, enqueued_at=timezone.now()
            )
        still_waiting = list(waiting(owner_id).values_list("pk", flat=True))
        for stream_id in admitted:
            transaction.on_commit(functools.partial(enqueue, stream_id))
        if admitted:
            _announce_positions(still_waiting)
    return admitted


def _announce_positions(stream_ids: list[uuid.UUID]) -> None:
    """Tell each still-waiting stream its new place. Nobody runs them, so the seq is
    moved here (a runner that claims one later moves past it anyway)."""
    for position, stream_id in enumerate(stream_ids, start=1):
        StreamingJob.objects.filter(pk=stream_id).update(seq=F("seq") + 1)
        seq = StreamingJob.objects.filter(pk=stream_id).values_list("seq", flat=True).first()
        if seq is None:
            continue
        event = make_event(
            EventType.STREAM_PROGRESS, seq=seq, stream_id=stream_id, queue_position=position
        )
        publish_on_commit(stream_id, event)


def owners_waiting() -> list[Any]:
    """Owners with streams waiting for a slot (the sweeper offers them slots)."""
    return list(
        StreamingJob.objects.active()
        .filter(waiting_for_slot=True)
        .values_list("owner_id", flat=True)
        .distinct()
    )


def queue_position(stream: StreamingJob) -> int | None:
    """1 for the next of its owner's waiting streams; None if it is not waiting."""
    if not stream.waiting_for_slot or not stream.is_generating:
        return None
    ahead = (
        waiting(stream.owner_id)
        .filter(created_at__lt=stream.created_at)
        .count()
    )
    return ahead + 1
