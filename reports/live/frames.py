"""What a client may send on a socket, read without trusting it.

A frame is JSON text: an object, at most ``MAX_FRAME_CHARS`` long. Anything else
(binary, empty, not JSON, nested too deep, numbers too long to read) is a
``BadFrame`` with a message for the client; the socket stays open.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

MAX_FRAME_CHARS = 4096


class BadFrame(ValueError):
    """A frame the socket cannot read; ``str(exc)`` is the message for the client."""


def decode_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    if text_data is None or bytes_data:
        raise BadFrame("Send JSON text frames, not binary ones.")
    if len(text_data) > MAX_FRAME_CHARS:
        raise BadFrame(f"A frame may be at most {MAX_FRAME_CHARS} characters.")
    try:
        content = json.loads(text_data)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and integers over Python's digit limit.
        raise BadFrame("The frame is not valid JSON.") from None
    if not isinstance(content, dict):
        raise BadFrame('A frame is a JSON object, e.g. {"type": "snapshot"}.')
    return content


class RequestBudget:
    """At most ``limit`` requests in any ``window`` seconds, for one socket."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.times: deque[float] = deque()

    def take(self, now: float) -> float:
        """0 if the request may go ahead, else the seconds until one may."""
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        if self.limit and len(self.times) >= self.limit:
            return self.times[0] + self.window - now
        self.times.append(now)
        return 0.0
