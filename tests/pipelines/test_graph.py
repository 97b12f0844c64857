"""The dependency graph: which stages read which stages and which inputs, transitively;
the one definition forks, edits and retries use, published by ``GET /api/pipelines/``."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client

from reports.client_report.pipeline import PIPELINE as REPORT
from reports.pipelines import all_pipelines, graph
from starmap.pipeline import PIPELINE as STARMAP

REPORT_FIELDS = list(REPORT.input_schema.model_fields)


def test_downstream_follows_reads_transitively() -> None:
    assert graph.downstream(REPORT, ["sections"]) == {"recommendations", "summary", "assembly"}
    assert graph.downstream(REPORT, ["outline"]) == {
        "sections", "recommendations", "summary", "assembly"
    }
    # Side by side: the learners' profiles feed neither the gaps nor the risks.
    assert graph.downstream(STARMAP, ["learners"]) == {
        "objectives", "modalities", "measurement", "timeline", "risks", "summary", "assembly"
    }
    assert "gaps" not in graph.downstream(STARMAP, ["learners"])
    assert graph.downstream(STARMAP, ["risks"]) == {"summary", "assembly"}


def test_model_stages_read_the_fields_their_prompt_names_brief_included() -> None:
    # The brief (every model stage's stable prefix) names every input of a report.
    for spec in REPORT.stages:
        if spec.calls_model:
            assert graph.inputs_read(REPORT, spec) == tuple(REPORT_FIELDS), spec.key
    assert graph.inputs_read(REPORT, REPORT.stage("assembly")) == ("title", "client", "audience")


def test_a_pipeline_without_a_brief_reads_only_what_its_template_names() -> None:
    bare = dataclasses.replace(REPORT, brief_prompt="", _engine=[])
    assert graph.inputs_read(bare, bare.stage("outline")) == ("title", "client")
    assert graph.inputs_read(bare, bare.stage("brief")) == ()
    assert graph.readers_of_inputs(bare, ["audience"]) == {"summary", "assembly"}


def test_readers_of_an_input_include_every_stage_that_reads_their_output() -> None:
    assert graph.readers_of_inputs(REPORT, ["client"]) == {s.key for s in REPORT.stages}
    assert graph.readers_of_inputs(REPORT, []) == set()


@pytest.mark.parametrize("pipeline", all_pipelines(), ids=lambda p: p.type)
def test_every_field_a_stage_reads_is_an_input(pipeline: Any) -> None:
    fields = set(pipeline.input_schema.model_fields)
    for spec in pipeline.stages:
        named = set(spec.reads_inputs or ()) | set(graph.inputs_read(pipeline, spec))
        assert named <= fields, (spec.key, named - fields)
        if spec.calls_model:
            assert graph.inputs_read(pipeline, spec), spec.key


def test_editable_stages_are_the_model_stages() -> None:
    assert [s.key for s in REPORT.stages if graph.is_editable(s)] == [
        "brief", "context", "outline", "sections", "recommendations", "summary"
    ]


@pytest.mark.django_db
def test_the_api_publishes_the_graph(api: Client) -> None:
    pipelines = {p["type"]: p for p in api.get("/api/pipelines/").json()}
    stages = {s["key"]: s for s in pipelines["starmap"]["stages"]}
    assert stages["risks"]["depends_on"] == ["organisation", "gaps", "modalities"]
    assert stages["organisation"]["depends_on"] == []
    assert stages["organisation"]["reads_inputs"] == list(STARMAP.input_schema.model_fields)
    assert stages["assembly"]["editable"] is False and stages["summary"]["editable"] is True
    assert stages["objectives"]["output_schema"]["title"] == "Objectives"
    assert stages["summary"]["output_schema"] is None
