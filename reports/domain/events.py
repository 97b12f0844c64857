"""The live-event contract: event types, the envelope they travel in, and the groups
that carry them (docs/architecture.md, "Live updates"; docs/contracts.md, "Live events")."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event a stream publishes; the value is the ``type`` clients read."""

    STAGE_STARTED = "stage.started"
    STAGE_DELTA = "stage.delta"
    STAGE_RETRYING = "stage.retrying"
    # The stage waits for its model (a local model writes one answer at a time): ``note``
    # says why, and is "" once the model is its.
    STAGE_WAITING = "stage.waiting"
    STAGE_COMPLETED = "stage.completed"
    STAGE_FAILED = "stage.failed"
    STAGE_CANCELLED = "stage.cancelled"
    STREAM_PROGRESS = "stream.progress"
    STREAM_COMPLETED = "stream.completed"
    STREAM_FAILED = "stream.failed"
    STREAM_CANCELLED = "stream.cancelled"
    # Waits for its owner to review a stage (``awaiting_review``: the keys).
    STREAM_AWAITING_REVIEW = "stream.awaiting_review"


# The events after which a stream publishes nothing more (until it is resumed).
FINAL_EVENTS = frozenset(
    {EventType.STREAM_COMPLETED, EventType.STREAM_FAILED, EventType.STREAM_CANCELLED,
     EventType.STREAM_AWAITING_REVIEW}
)
# Every event but a delta changes more than one stage's text: pages re-render for them.
BOUNDARY_EVENTS = frozenset(EventType) - {EventType.STAGE_DELTA}

# What a WebSocket client gets first, and on every resync.
SNAPSHOT = "snapshot"
# The channel-layer message type that carries one event (handled by ``stream_event``).
CHANNEL_MESSAGE = "stream.event"


def stream_group(stream_id: uuid.UUID | str) -> str:
    """The channel-layer group that carries one stream's events."""
    return f"stream.{stream_id}"


# The channel-layer message that tells every process to check one user's open sockets
# again: their password, activity or tokens changed (docs/security.md).
ACCESS_CHANGED = "access.changed"


def user_group(user_id: Any) -> str:
    """The channel-layer group that hears of changes to one user's access."""
    return f"user.{user_id}"


def make_event(
    event_type: EventType, *, seq: int, stream_id: uuid.UUID | str, stage: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One event as clients receive it: ``type``, ``seq``, ``stream_id``, ``stage``, fields."""
    # The plain string goes on the wire: clients, msgpack and json see a str, not an enum.
    event: dict[str, Any] = {"type": event_type.value, "seq": seq, "stream_id": str(stream_id)}
    if stage is not None:
        event["stage"] = stage
    event.update(fields)
    return event


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer message that carries ``event`` to a stream's group."""
    return {"type": CHANNEL_MESSAGE, "event": event}


def is_final(event: dict[str, Any]) -> bool:
    """Whether the stream publishes nothing after this event (until resumed)."""
    return event.get("type") in FINAL_EVENTS
