"""Keeping a watcher's copy of a stage's text whole, whatever it missed.

Each ``stage.delta`` carries ``offset``: where its text starts. A watcher (WebSocket
consumer, SSE response) remembers how much of each running stage's text its client
holds, and makes every delta continue exactly there: passed on as it is, trimmed where
the client already has the start, or rebuilt from the checkpointed text (``offset`` 0,
which replaces) when the client is missing some.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from reports.models import Stage


def _saved_output(stream_id: str, key: str) -> str:
    value = Stage.objects.filter(stream__pk=stream_id, key=key).values_list("output", flat=True)
    return value.first() or ""


# (stream id, stage key) -> the stage's checkpointed text.
SavedText = Callable[[str, str], Awaitable[str]]
_read_saved: SavedText = sync_to_async(_saved_output)


async def follow_text(
    event: dict[str, Any], text_len: dict[str, int], saved_text: SavedText | None = None
) -> dict[str, Any] | None:
    """The delta to send so the client's text stays whole, or None to send nothing yet.

    ``text_len`` maps stage keys to how much text the client holds; a missing key means
    the client holds everything before this delta. It is updated in place.
    ``saved_text`` reads the checkpoint (sockets of one process share the read).
    """
    key, text, offset = event["stage"], event["text"], event.get("offset", 0)
    known = text_len.get(key)
    end = offset + len(text)
    if known is None or offset in (0, known):
        text_len[key] = end
        return event
    if offset < known:
        if end <= known:
            return None
        text_len[key] = end
        return {**event, "text": text[known - offset :], "offset": known}
    saved = await (saved_text or _read_saved)(event["stream_id"], key)
    if len(saved) < offset:
        return None  # the checkpoint has not caught up yet; a later delta repairs
    text_len[key] = end
    return {**event, "text": saved[:offset] + text, "offset": 0}
