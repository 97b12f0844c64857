"""A real model end to end: SmolLM2-135M on llama.cpp, in this process (``make test-local``).

A report and a starmap complete with text in every section, JSON stages parse, tokens
and cached tokens are counted, a stage that runs past its limit keeps its text marked,
Cancel stops the generation within 2 s of the model's own time, and Resume completes.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reports.events.eventlog import MemoryEventLog, event_log
from reports.models import Report, Stage, StageStatus, StreamStatus
from reports.pipelines import get_pipeline
from reports.pipelines.base import CUT_OFF_MARK
from reports.providers.gguf import LocalModel
from reports.runtime.engine import run_stream
from reports.streams import services
from reports.streams.selectors import stream_snapshot
from tests.conftest import wait_for

pytestmark = [pytest.mark.local_model, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]
MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def stages(stream: Any) -> dict[str, Stage]:
    return {s.key: s for s in Stage.objects.filter(stream=stream)}


def errors(stream: Any) -> dict[str, str]:
    """The stages that failed, with their messages (what a failed run shows)."""
    return {s.key: s.error for s in stages(stream).values() if s.error}


def assert_complete(stream: Any) -> Report:
    """Every stage completed with text; every model stage named the model and counted
    real tokens; the document holds every section and costs nothing, as "local"."""
    stream.refresh_from_db()
    assert stream.status == StreamStatus.COMPLETED, stream.error
    pipeline = get_pipeline(stream.type)
    for spec in pipeline.stages:
        stage = stages(stream)[spec.key]
        assert stage.status == StageStatus.COMPLETED and stage.output.strip(), spec.key
        if spec.calls_model:
            assert stage.model == MODEL, spec.key
            assert stage.tokens_in > 0 and stage.tokens_out > 0, spec.key
        if spec.output is not None:
            assert stage.data, spec.key  # parsed, and held to its schema
    snapshot = stream_snapshot(stream)
    assert (snapshot["cost_usd"], snapshot["cost_status"]) == ("0.000000", "local")
    assert snapshot["tokens_cached"] > 0  # the shared prompt prefix, reused by llama.cpp
    return Report.objects.get(stream=stream)


def test_a_starmap_is_written_by_the_local_model(
    local_model: LocalModel, make_starmap: Any, settings: Any
) -> None:
    settings.EVENT_LOG_MAXLEN = 100_000  # keep every event to read the waits back
    # The report's test shows a continuation; here a prose stage keeps what it has (the
    # continuations were most of this test's time).
    settings.LLM_CONTINUATIONS = 0
    stream = make_starmap()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED, errors(stream)

    report = assert_complete(stream)
    objectives = stages(stream)["objectives"].data  # the parsed list
    assert isinstance(objectives, list) and len(objectives) >= 3
    assert all(item["objective"] for item in objectives)
    assert report.markdown.count("\n## ") >= 9
    # Stages that could run side by side took turns on the one model, and said so.
    log = event_log()
    assert isinstance(log, MemoryEventLog)
    waits = [e for e in log.logged(str(stream.pk)) if e["type"] == "stage.waiting"]
    waited = {e["stage"] for e in waits if e["note"]}
    assert waited and waited <= {"learners", "gaps", "modalities", "measurement",
                                 "timeline", "risks"}
    assert all(any(e["stage"] == key and not e["note"] for e in waits) for key in waited)


def test_a_report_is_written_by_the_local_model_cancel_and_resume_included(
    local_model: LocalModel, make_stream: Any, user: Any
) -> None:
    """One report (a whole report per test is most of the time these tests take):
    cancelled mid-generation, resumed, and then complete."""
    stream = make_stream(title="Cancel me")
    result: list[str | None] = []
    runner = threading.Thread(target=lambda: result.append(run_stream(stream.pk)))
    runner.start()
    # Mid-generation: the model has written tokens of a stage's answer.
    wait_for(lambda: local_model.lock.locked() and local_model.generations
             and local_model.generations[-1].output_tokens > 3, timeout=120)
    generation = local_model.generations[-1]
    written_at_cancel = generation.output_tokens

    services.cancel_job(stream_id=stream.pk, user=user)

    # The model's own state: its generation loop ended as cancelled, and the tokens it
    # wrote after the cancel took less than 2 s of its own generation time.
    wait_for(lambda: generation.finish_reason == "cancelled", timeout=30)
    runner.join(60)
    assert result == [StreamStatus.CANCELLED]
    per_token_ms = generation.eval_ms / max(1, generation.eval_count)
    assert (generation.output_tokens - written_at_cancel) * per_token_ms < 2000
    assert not local_model.lock.locked()  # nothing else started on the model

    services.resume_job(stream_id=stream.pk, user=user)
    assert run_stream(stream.pk) == StreamStatus.COMPLETED, errors(stream)

    report = assert_complete(stream)
    for heading in ("## Executive summary", "## Context and assumptions", "## Recommendations"):
        section = report.markdown.split(heading)[1].split("\n## ")[0]
        assert section.strip(), heading
    # The context's limit is short: it ran on, was continued once, and is kept marked.
    context = stages(stream)["context"]
    assert context.cut_off and context.attempts >= 2
    assert CUT_OFF_MARK in report.markdown.split("## Context and assumptions")[1]
