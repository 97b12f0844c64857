"""What else happens when a stream ends: callbacks that apps register from their
``AppConfig.ready()`` (webhooks, e-mail notices), the way job types register pipelines.

A hook runs inside the transaction that saves the ending, so what it records commits
with the ending or not at all; it must only write rows (no network), and one that
raises is logged and never fails the stream.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.db import transaction

from reports.domain.events import EventType

logger = logging.getLogger(__name__)

# (stream_id, the final event, the seq it carries)
EndingHook = Callable[[uuid.UUID, EventType, int], None]
_ending_hooks: list[EndingHook] = []


def register_ending_hook(hook: EndingHook) -> EndingHook:
    """Call ``hook`` whenever a stream completes, fails or is cancelled."""
    if hook not in _ending_hooks:
        _ending_hooks.append(hook)
    return hook


def stream_ended(stream_id: uuid.UUID, event: EventType, seq: int) -> None:
    """Run every ending hook, each in its own savepoint."""
    for hook in list(_ending_hooks):
        try:
            with transaction.atomic():
                hook(stream_id, event, seq)
        except Exception:
            logger.exception("Ending hook %r failed for stream %s", hook, stream_id)
