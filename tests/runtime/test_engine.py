from __future__ import annotations

from typing import Any

import pytest

from reports.client_report.pipeline import PIPELINE
from reports.models import Report, StageAttempt, StageStatus, StreamStatus
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream

pytestmark = pytest.mark.django_db(transaction=True)


def test_runs_whole_pipeline_and_persists_every_stage(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    stream.refresh_from_db()
    assert stream.status == StreamStatus.COMPLETED
    assert stream.progress == 100
    stages = list(stream.stages.in_order())
    assert [s.key for s in stages] == [spec.key for spec in PIPELINE.stages]
    assert all(s.status == StageStatus.COMPLETED for s in stages)
    assert all(s.output for s in stages)
    assert all(s.finished_at and s.started_at for s in stages)
    assert stages[0].data["key_questions"]  # JSON stage parsed and saved
    assert isinstance(stages[2].data, list)
    # Every model stage called the model once; assembly did not.
    assert fake_provider.stage_keys == [s.key for s in PIPELINE.stages if s.calls_model]
    report = Report.objects.get(stream=stream)
    assert report.markdown == stages[-1].output
    assert report.markdown.startswith("# Customer retention plan")


def test_later_stages_read_earlier_outputs(make_stream: Any, fake_provider: FakeProvider) -> None:
    stream = make_stream()
    run_stream(stream.pk)

    outline_prompt = fake_provider.calls_for("outline")[0].request.prompt
    brief_output = stream.stages.get(key="brief").output
    assert brief_output.strip()[:40] in outline_prompt
    assert "Acme Ltd" in outline_prompt


def test_usage_and_totals_are_saved(make_stream: Any, fake_provider: FakeProvider) -> None:
    stream = make_stream()
    run_stream(stream.pk)
    stream.refresh_from_db()
    stages = list(stream.stages.all())
    assert stream.tokens_in == sum(s.tokens_in for s in stages) > 0
    assert stream.tokens_out == sum(s.tokens_out for s in stages) > 0
    attempts = StageAttempt.objects.filter(stage__stream=stream)
    assert attempts.count() == len([s for s in PIPELINE.stages if s.calls_model])
    assert all(a.usage_known for a in attempts)


def test_a_second_runner_cannot_claim_a_running_stream(
    make_stream: Any, fake_provider: FakeProvider
) -> None:
    from reports.runtime.leases import claim

    stream = make_stream()
    assert claim(stream.pk, "runner-a")
    assert not claim(stream.pk, "runner-b")
    assert run_stream(stream.pk, owner="runner-c") is None
    assert fake_provider.history == []
