"""Structured output: JSON stages send their shape (a pydantic model) as the schema the
model is held to, against real local servers that speak OpenAI's and Anthropic's APIs;
without the capability (or when the model refuses the schema) they fall back to
instructions, validation and re-ask."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from devtools.llm_servers import (
    BRIEF_JSON,
    AnthropicServer,
    OpenAIServer,
    Reply,
    schema_of,
)
from reports.client_report import drafts
from reports.client_report.outputs import BriefAnalysis, Outline
from reports.client_report.pipeline import PIPELINE
from reports.models import Stage, StageAttempt, StreamStatus
from reports.pipelines import StageContext
from reports.pipelines.structured import StageOutput, parse_output, schema_for
from reports.runtime.engine import run_stream
from starmap import drafts as starmap_drafts
from starmap.outputs import Objectives
from tests.conftest import REPORT_INPUT
from tests.providers.conftest import serving
from tests.starmap.conftest import STARMAP_INPUT

pytestmark = pytest.mark.django_db(transaction=True)

JSON_STAGES = {"brief": "BriefAnalysis", "outline": "Outline"}


@pytest.fixture
def openai_server(settings: Any) -> Iterator[OpenAIServer]:
    yield from serving(settings, OpenAIServer(), key="sk-test-structured-0123456789",
                       model="test-model", prices=(Decimal("2"), Decimal("10")))


@pytest.fixture
def anthropic_server(settings: Any) -> Iterator[AnthropicServer]:
    yield from serving(settings, AnthropicServer(), key="sk-ant-structured-0123456789",
                       model="claude-test")


def requests_for(server: OpenAIServer | AnthropicServer, stage_key: str) -> list[dict[str, Any]]:
    """The requests of one client-report stage (the stages run one after another)."""
    position = PIPELINE.stages.index(PIPELINE.stage(stage_key))
    return [server.requests[position]]


def stage(stream: Any, key: str) -> Stage:
    return Stage.objects.get(stream=stream, key=key)


def data_of(row: Stage) -> Any:
    """The stage's saved data (JSON: untyped)."""
    return row.data


def test_openai_json_stages_receive_their_schema(
    make_stream: Any, openai_server: OpenAIServer
) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    for key, name in JSON_STAGES.items():
        (request,) = requests_for(openai_server, key)
        json_schema = request["response_format"]["json_schema"]
        assert request["response_format"]["type"] == "json_schema"
        assert json_schema["name"] == name and json_schema["strict"] is True
        assert json_schema["schema"] == schema_for(PIPELINE.stage(key).output).schema
        assert json_schema["schema"]["additionalProperties"] is False
        # The schema, not the prompt, tells the model the shape.
        assert '"title": "' + name + '"' not in openai_server.prompt_of(request)
    prose = requests_for(openai_server, "context")[0]
    assert "response_format" not in prose
    # Schema-valid answers: one attempt each, no re-ask, data saved as the stage's data.
    outline = stage(stream, "outline")
    assert (outline.attempts, outline.reasks) == (1, 0)
    assert [s["title"] for s in data_of(outline)] == ["Where churn comes from", "What to fix first"]
    attempt = StageAttempt.objects.get(stage=outline)
    assert attempt.structured is True
    assert stage(stream, "brief").data == json.loads(BRIEF_JSON)


def test_anthropic_json_stages_force_a_tool_whose_input_is_the_data(
    make_stream: Any, anthropic_server: AnthropicServer
) -> None:
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    (request,) = requests_for(anthropic_server, "outline")
    (tool,) = request["tools"]
    assert tool["name"] == "Outline"
    assert tool["input_schema"] == schema_for(Outline).schema
    assert request["tool_choice"] == {"type": "tool", "name": "Outline"}
    assert "tools" not in requests_for(anthropic_server, "context")[0]
    outline = stage(stream, "outline")
    # The tool's input, streamed as input_json_delta, is the stage's text and data.
    assert json.loads(outline.output) == {"sections": outline.data}
    assert (outline.attempts, outline.reasks) == (1, 0)
    assert StageAttempt.objects.get(stage=outline).structured is True


def test_without_the_capability_the_schema_goes_in_the_prompt(
    make_stream: Any, openai_server: OpenAIServer, settings: Any
) -> None:
    settings.OPENAI_STRUCTURED_OUTPUT = False
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    (request,) = requests_for(openai_server, "outline")
    assert "response_format" not in request
    prompt = openai_server.prompt_of(request)
    assert "matches this JSON schema" in prompt
    assert schema_for(Outline).as_text() in prompt
    # The server answers a bare list, as such models do: it is read as the data.
    outline = stage(stream, "outline")
    assert len(data_of(outline)) == 2 and outline.reasks == 0
    assert StageAttempt.objects.get(stage=outline).structured is False


def test_a_model_listed_as_without_structured_output_falls_back(
    make_stream: Any, anthropic_server: AnthropicServer, settings: Any
) -> None:
    settings.LLM_STRUCTURED_OUTPUT_OFF = "other-model, claude"  # a family name
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    assert not any("tools" in request for request in anthropic_server.requests)
    assert "matches this JSON schema" in anthropic_server.prompt_of(anthropic_server.requests[0])


def test_fallback_answers_that_do_not_fit_are_reasked_and_counted(
    make_stream: Any, openai_server: OpenAIServer, settings: Any
) -> None:
    settings.OPENAI_STRUCTURED_OUTPUT = False
    openai_server.plan.append(Reply(text=json.dumps({"objective": "only this"})))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    brief = stage(stream, "brief")
    assert (brief.attempts, brief.reasks) == (2, 1)
    first, second = StageAttempt.objects.filter(stage=brief).order_by("number")
    assert second.status == "succeeded"
    assert first.error_kind == "invalid_output" and "client: Field required" in first.error
    assert "Your previous answer was rejected" in openai_server.prompt_of(
        openai_server.requests[1]
    )


def test_a_runtime_refusal_of_the_schema_falls_back_once_and_is_logged(
    make_stream: Any, openai_server: OpenAIServer, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING)
    refusal = {"error": {"message": "Invalid parameter: 'response_format' of type "
                         "'json_schema' is not supported with this model.",
                         "type": "invalid_request_error", "param": "response_format"}}
    openai_server.plan.append(Reply("status", status=400, body=json.dumps(refusal)))
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    refused, retried = openai_server.requests[:2]
    assert schema_of(refused) == "BriefAnalysis"
    assert "response_format" not in retried
    assert "matches this JSON schema" in openai_server.prompt_of(retried)
    brief = stage(stream, "brief")
    assert data_of(brief)["client"] == "Acme Ltd" and brief.reasks == 0
    first = StageAttempt.objects.filter(stage=brief).order_by("number").first()
    assert first is not None and first.error_kind == "schema_refused"
    assert first.cost_usd == Decimal(0)  # refused before any work
    # Remembered for the model: the outline stage does not try the schema again.
    assert all("response_format" not in r for r in openai_server.requests[1:])
    assert "refused the JSON schema of stage brief" in caplog.text


def test_schemas_are_strict_where_the_shape_allows() -> None:
    schema = schema_for(Outline)
    assert schema.strict
    section = schema.schema["properties"]["sections"]["items"]
    assert section["additionalProperties"] is False
    assert set(section["required"]) == {"title", "purpose"}
    assert "$defs" not in schema.schema and "minLength" not in json.dumps(schema.schema)

    class WithOptional(StageOutput):
        name: str
        nickname: str = ""

    loose = schema_for(WithOptional)
    assert not loose.strict and loose.schema["additionalProperties"] is False


def test_offline_drafts_conform_to_the_same_models() -> None:
    report = StageContext("report", REPORT_INPUT, {}, {})
    assert parse_output(BriefAnalysis, drafts.brief(report))["client"] == REPORT_INPUT["client"]
    assert len(parse_output(Outline, drafts.outline(report))) == 4
    starmap = StageContext("starmap", STARMAP_INPUT, {}, {})
    assert len(parse_output(Objectives, starmap_drafts.objectives(starmap))) >= 3
