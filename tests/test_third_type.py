"""A third job type needs only a new app: a model, a pipeline, a registration.

The "app" here is this module: ``MemoJob`` subclasses the core's ``BaseJob`` and gets its
own table (created by the schema editor, as a new app's migration would), and a two-stage
pipeline is registered the way ``AppConfig.ready`` does it. Nothing in ``reports`` is
touched, yet the service, the engine, the API and the pages all handle the new type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, models
from django.test import Client
from pydantic import BaseModel, Field

from reports.models import BaseJob, Report, StreamStatus
from reports.pipelines import Pipeline, StageContext, StageSpec, register
from reports.pipelines.registry import unregister
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.streams.services import create_streaming_job

pytestmark = pytest.mark.django_db(transaction=True)


class MemoJob(BaseJob):
    """The third type's job: a one-page memo on a topic."""

    topic = models.CharField(max_length=200)
    # Declared because the type checker only adds managers to installed apps' models.
    objects: models.Manager[MemoJob] = models.Manager()

    job_type = "memo"
    input_fields = ("topic",)

    class Meta(BaseJob.Meta):
        app_label = "memo"

    def get_absolute_url(self) -> str:
        return f"/memo/{self.pk}/"


class MemoInput(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    topic: str = Field(min_length=1, max_length=200)


def assemble(ctx: StageContext) -> str:
    return f"# {ctx.inputs['title']}\n\n{ctx.outputs['points']}\n\n{ctx.outputs['close']}\n"


def memo_pipeline(prompt_dir: Path) -> Pipeline:
    return Pipeline(
        type="memo",
        title="Memo",
        job_model=MemoJob,
        input_schema=MemoInput,
        prompt_dir=prompt_dir,
        stages=(
            StageSpec("points", "Key points", "points.txt",
                      draft=lambda ctx: f"- Why {ctx.inputs['topic']} matters now."),
            StageSpec("close", "Closing line", "close.txt", reads=("points",),
                      draft=lambda ctx: "Decide by Friday."),
            StageSpec("assembly", "Assemble", reads=("points", "close"), build=assemble),
        ),
    )


@pytest.fixture
def memo_type(transactional_db: None, tmp_path: Path) -> Iterator[Pipeline]:
    """Install the memo "app": its table (a migration's job) and its pipeline (ready()'s)."""
    (tmp_path / "system.txt").write_text("You write short memos.")
    (tmp_path / "points.txt").write_text("Three points on {{ input.topic }}.")
    (tmp_path / "close.txt").write_text("A closing line after:\n{{ outputs.points }}")
    with connection.schema_editor() as editor:
        editor.create_model(MemoJob)
    pipeline = register(memo_pipeline(tmp_path))
    yield pipeline
    unregister("memo")
    with connection.schema_editor() as editor:
        editor.delete_model(MemoJob)


def test_service_and_engine_run_the_new_type_end_to_end(
    memo_type: Pipeline, user: User, fake_provider: FakeProvider
) -> None:
    stream, created = create_streaming_job(
        user=user, type="memo", input_data={"title": "Pricing memo", "topic": "pricing"}
    )
    assert created

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    job = MemoJob.objects.get(pk=stream.job_id)
    assert job.owner == user and job.topic == "pricing"
    assert fake_provider.stage_keys == ["points", "close"]
    assert "Three points on pricing." in fake_provider.calls_for("points")[0].request.prompt
    report = Report.objects.get(stream=stream)
    assert report.job_type == "memo" and report.job_id == job.pk
    assert report.markdown.startswith("# Pricing memo\n\n- Why pricing matters now.")


def test_the_api_serves_the_new_type(
    memo_type: Pipeline, user: User, fake_provider: FakeProvider
) -> None:
    client = Client()
    client.force_login(user)

    def post(payload: dict[str, Any]) -> Any:
        return client.post("/api/streams/", json.dumps(payload), content_type="application/json")

    assert "memo" in {p["type"] for p in client.get("/api/pipelines/").json()}
    bad = post({"type": "memo", "input_data": {"title": "x"}})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "topic"

    created = post({"type": "memo", "input_data": {"title": "Hiring memo", "topic": "hiring"}})
    assert created.status_code == 201
    stream_id = created.json()["stream_id"]
    run_stream(stream_id)

    snapshot = client.get(f"/api/streams/{stream_id}/").json()
    assert snapshot["status"] == "completed" and snapshot["type"] == "memo"
    report = client.get(f"/api/reports/{snapshot['report_id']}/").json()
    assert "Why hiring matters now." in report["markdown"]
    assert client.get(f"/streams/{stream_id}/").status_code == 200  # the live page too


def test_without_its_registration_the_type_does_not_exist(
    memo_type: Pipeline, user: User
) -> None:
    unregister("memo")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/api/streams/",
        json.dumps({"type": "memo", "input_data": {"title": "t", "topic": "t"}}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "Unknown job type 'memo'" in response.json()["message"]
