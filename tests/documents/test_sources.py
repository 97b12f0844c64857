"""Every stage says where its output came from (``source``): this run's model, a
person's edit, or copied from the version a fork was made from; the card says so too."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.documents.exports import export, of_report
from reports.models import Report, StreamingJob
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams import services
from reports.streams.forks import fork_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def forked(make_stream: Any, fake_provider: FakeProvider, user: User) -> StreamingJob:
    stream = make_stream()
    assert run_stream(stream.pk) == "completed"
    fork = fork_stream(stream_id=stream.pk, user=user, from_stage="sections")
    assert run_stream(fork.pk) == "completed"
    return fork


def test_a_fork_snapshot_says_which_stages_were_copied(forked: StreamingJob, api: Client) -> None:
    stages = api.get(f"/api/streams/{forked.pk}/").json()["stages"]
    assert {s["key"]: s["source"] for s in stages} == {
        "brief": "copied", "context": "copied", "outline": "copied", "sections": "model",
        "recommendations": "model", "summary": "model", "assembly": "model",
    }


def test_a_retried_copied_stage_is_the_models_again(forked: StreamingJob, user: User) -> None:
    services.retry_stage(stream_id=forked.pk, key="outline", user=user)
    assert forked.stages.get(key="outline").source == "model"  # pending: it will run here
    run_stream(forked.pk)
    sources = dict(forked.stages.values_list("key", "source"))
    assert sources["outline"] == "model" and sources["brief"] == "copied"


def test_the_card_says_kept_from_v1(forked: StreamingJob, api: Client) -> None:
    page = api.get(f"/streams/{forked.pk}/").content.decode()
    assert page.count("kept from v1</span>") == 3
    assert "edited</span>" not in page


def test_exports_say_which_stages_were_kept(forked: StreamingJob) -> None:
    content, _, _ = export(of_report(Report.objects.get(stream=forked)), "md")
    text = content.decode() if isinstance(content, bytes) else content
    rows = [line for line in text.splitlines() if "(kept from an earlier version)" in line]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [
        "Brief analysis", "Context and assumptions", "Outline"
    ]


def test_copied_stages_do_not_count_again_in_the_history(forked: StreamingJob) -> None:
    from reports.streams.eta import load_history

    history = load_history("report")
    assert history[("brief", "fake-model")].samples == 1  # its run, not its copy
    assert history[("sections", "fake-model")].samples == 2  # ran in both streams
