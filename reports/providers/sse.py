"""Server-sent events from raw bytes, for the lean streaming path.

The SDKs build a pydantic object per chunk (about ten times the CPU of the JSON
parse itself: docs/benchmarks.md, "The lean streaming path"); the lean path reads the
HTTP body's bytes, splits events here and parses each ``data`` with orjson into plain
dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

loads = orjson.loads


def sse_events(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """``(event name, data)`` for each event in a byte stream (the name is ``b""``
    when the server sends none, as OpenAI does); comments and ids are skipped."""
    pending = b""
    event = b""
    data: list[bytes] = []
    for chunk in chunks:
        if pending:
            chunk = pending + chunk
        lines = chunk.split(b"\n")
        pending = lines.pop()  # an incomplete last line waits for the next chunk
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    yield event, b"\n".join(data)
                event, data = b"", []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                event = line[6:].strip()
    if pending.startswith(b"data:"):
        value = pending[5:]
        data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield event, b"\n".join(data)
