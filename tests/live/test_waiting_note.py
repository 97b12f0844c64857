"""A stage that waits for its model (a local model writes one answer at a time) says so
on its row, and stops saying so once the model is its."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from reports.domain.events import EventType
from reports.live.fragments import render_event_html
from reports.models import Stage, StageStatus

NOTE = "SmolLM2-135M-Instruct.Q4_1.gguf writes one answer at a time and another stage has it"


@pytest.mark.django_db
@pytest.mark.parametrize(("note", "shown"), [(NOTE, True), ("", False)])
def test_the_waiting_stage_row_says_it_waits_for_the_model(
    make_stream: Any, note: str, shown: bool
) -> None:
    stream = make_stream()
    Stage.objects.filter(stream=stream, key="context").update(
        status=StageStatus.RUNNING, started_at=timezone.now())
    event = {"type": EventType.STAGE_WAITING.value, "seq": 3, "stream_id": str(stream.pk),
             "stage": "context", "note": note}

    html = render_event_html(event)

    assert f'id="stage-{stream.pk}-context"' in html
    assert ("Waiting for the model: " + NOTE in html) is shown
