"""The starmap pipeline run by the real engine with the fake provider."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from reports.models import Report, StageStatus, StreamStatus
from reports.pipelines import get_pipeline
from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream
from starmap.models import StarmapJob
from starmap.pipeline import PIPELINE
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MODEL_STAGES = [spec.key for spec in PIPELINE.stages if spec.calls_model]


def test_registered_by_the_app_and_has_enough_stages() -> None:
    assert get_pipeline("starmap") is PIPELINE
    assert len(MODEL_STAGES) >= 8
    assert PIPELINE.stages[-1].build is not None  # assembly: no model call


def test_reports_never_imports_starmap() -> None:
    root = Path(__file__).resolve().parents[2] / "reports"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "import starmap" in path.read_text() or "from starmap" in path.read_text()
    ]
    assert offenders == []


def test_runs_end_to_end_into_a_sectioned_report(
    make_starmap: Any, fake_provider: FakeProvider
) -> None:
    stream = make_starmap()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    stream.refresh_from_db()
    assert stream.progress == 100
    stages = {s.key: s for s in stream.stages.all()}
    assert all(s.status == StageStatus.COMPLETED for s in stages.values())
    assert sorted(fake_provider.stage_keys) == sorted(MODEL_STAGES)  # each model stage once
    objectives = stages["objectives"].data
    assert isinstance(objectives, list) and len(objectives) >= 3
    assert {"id", "audience", "objective", "measure"} <= set(objectives[0])
    report = Report.objects.get(stream=stream)
    assert report.job_type == "starmap"
    assert report.job_id == StarmapJob.objects.get().pk
    for heading in ("# Service excellence starmap", "## Executive summary",
                    "## Learning objectives", "## Timeline and budget",
                    "## Risks and mitigations", "| LO1 |"):
        assert heading in report.markdown
    assert "Offline draft" in report.markdown
    assert "50,000 EUR" in report.markdown


def test_stages_read_the_brief_and_earlier_stages(
    make_starmap: Any, fake_provider: FakeProvider
) -> None:
    stream = make_starmap()
    run_stream(stream.pk)

    prompt = fake_provider.calls_for("objectives")[0].request.prompt
    assert "Northwind Health" in prompt
    learners = stream.stages.get(key="learners").output
    assert learners.strip()[:60] in prompt
    assert "Ward nurses" in fake_provider.calls_for("summary")[0].request.prompt


def test_independent_stages_run_at_the_same_time(
    make_starmap: Any, fake_provider: FakeProvider
) -> None:
    """learners and gaps both read only organisation: both calls are in flight at once."""
    gates = {"learners": threading.Event(), "gaps": threading.Event()}
    for key, gate in gates.items():
        fake_provider.script(key, Script(gate=gate))
    stream = make_starmap()
    runner = threading.Thread(target=run_stream, args=(stream.pk,))
    runner.start()
    try:
        # Neither can finish before its gate opens, so seeing both calls proves overlap.
        wait_for(lambda: fake_provider.calls_for("learners") and fake_provider.calls_for("gaps"))
    finally:
        for gate in gates.values():
            gate.set()
        runner.join(timeout=30)
    stream.refresh_from_db()
    assert stream.status == StreamStatus.COMPLETED
    learners = stream.stages.get(key="learners")
    gaps = stream.stages.get(key="gaps")
    assert learners.started_at < gaps.finished_at
    assert gaps.started_at < learners.finished_at


def test_invalid_objectives_are_asked_again_once(
    make_starmap: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_INVALID_OUTPUT_REASKS = 1
    fake_provider.script("objectives", Script(text="not json"))
    stream = make_starmap()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    calls = fake_provider.calls_for("objectives")
    assert len(calls) == 2
    assert "Your previous answer was rejected" in calls[1].request.prompt
    stage = stream.stages.get(key="objectives")
    assert stage.attempts == 2
    assert isinstance(stage.data, list)


def test_objectives_that_stay_invalid_fail_the_stream(
    make_starmap: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_INVALID_OUTPUT_REASKS = 1
    fake_provider.script("objectives", Script(text="not json"), Script(text='[{"id": "LO1"}]'))
    stream = make_starmap()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    assert len(fake_provider.calls_for("objectives")) == 2
    stage = stream.stages.get(key="objectives")
    assert stage.status == StageStatus.FAILED
    assert stage.error_kind == "invalid_output"
    assert "not valid" in stage.error
    # Nothing that reads the objectives ran; what came before is kept for Resume.
    assert stream.stages.get(key="modalities").status == StageStatus.PENDING
    assert stream.stages.get(key="learners").status == StageStatus.COMPLETED
    stream.refresh_from_db()
    assert stream.is_resumable
    assert not Report.objects.filter(stream=stream).exists()
