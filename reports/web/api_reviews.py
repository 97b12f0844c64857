"""The API's review points: approve, edit or rerun a stage a stream waits on
(docs/api.md, "Review points")."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from reports.streams.reviews import INSTRUCTIONS_MAX_LENGTH, review_stage
from reports.streams.selectors import stream_snapshot
from reports.streams.snapshot import StreamSnapshot
from reports.web.api_common import ErrorOut, request_user

router = Router(tags=["streams"])


class ReviewIn(Schema):
    action: str
    # "edit": the new text (a prose stage) or data (a JSON stage, checked against its
    # output_schema).
    text: str | None = None
    data: Any = None
    # "rerun": told to the stage's prompt.
    instructions: str = Field("", max_length=INSTRUCTIONS_MAX_LENGTH)


@router.post(
    "/streams/{stream_id}/stages/{key}/review/",
    response={200: StreamSnapshot, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def review(request: HttpRequest, stream_id: str, key: str, payload: ReviewIn) -> dict[str, Any]:
    """Review a stage the stream waits on: ``{"action": "approve"}``, ``{"action": "edit",
    "text"}`` or ``{"action": "edit", "data"}`` (422 with the schema's errors), or
    ``{"action": "rerun", "instructions"}``; the snapshot after it. 409 when the stage is
    not waiting for review."""
    stream = review_stage(
        stream_id=stream_id, key=key, user=request_user(request), action=payload.action,
        text=payload.text, data=payload.data, instructions=payload.instructions,
    )
    return stream_snapshot(stream)
