"""Prompts fit the model's context window: earlier stages are trimmed to fit, the window
comes from a setting or the server, and a prompt that cannot fit is a readable error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools.llm_servers import OpenAIServer
from reports.models import Stage, StreamStatus
from reports.providers.base import rough_tokens
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from reports.runtime.engine.fitting import MARGIN_TOKENS, TRIMMED, _cap
from tests.providers.conftest import serving

streams_db = pytest.mark.django_db(transaction=True)
TRACEBACK_MARKERS = ("Traceback", 'File "', "<module>")


@pytest.fixture
def openai_server(settings: Any) -> Iterator[OpenAIServer]:
    yield from serving(settings, OpenAIServer(), key="sk-test-fit-0123456789", model="m")


def test_the_longest_texts_are_cut_to_a_common_length() -> None:
    assert _cap([10, 100, 1000], 1110) == 1000  # everything fits
    assert _cap([10, 100, 1000], 410) == 300  # 10 + 100 + 300: the short ones stay whole
    assert _cap([10, 100, 1000], 160) == 75  # 10 + 75 + 75
    assert _cap([10, 100, 1000], 0) == 0


@streams_db
def test_earlier_outputs_are_trimmed_to_fit_the_window(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_CONTEXT_TOKENS = 1400
    settings.LLM_OUTPUT_SCALE = 0.25
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.COMPLETED

    requests = [call.request for call in fake_provider.history]
    for request in requests:
        used = rough_tokens(request.system) + rough_tokens(request.prompt)
        assert used + request.max_tokens + MARGIN_TOKENS <= 1400, request.stage_key
    trimmed = [r.stage_key for r in requests if TRIMMED.strip() in r.prompt]
    assert "sections" in trimmed  # it quotes the brief, the context and the outline
    assert "brief" not in trimmed  # it quotes nothing


@streams_db
def test_a_prompt_that_cannot_fit_is_a_readable_stage_error(
    make_stream: Any, fake_provider: FakeProvider, settings: Any
) -> None:
    settings.LLM_CONTEXT_TOKENS = 300
    stream = make_stream()

    assert run_stream(stream.pk) == StreamStatus.FAILED

    brief = Stage.objects.get(stream=stream, key="brief")
    assert brief.error_kind == "context_length"
    assert "context window holds 300" in brief.error
    assert not any(marker in brief.error for marker in TRACEBACK_MARKERS)
    assert fake_provider.history == []  # nothing was sent, nothing paid for


@streams_db
def test_a_llama_server_says_its_window_at_props(
    make_stream: Any, openai_server: OpenAIServer, settings: Any
) -> None:
    from reports.providers import get_provider

    openai_server.context_window = 700
    assert get_provider().context_length("m") == 700
    settings.LLM_CONTEXT_TOKENS = 900  # a setting wins over the server
    assert get_provider().context_length("m") == 900


@streams_db
def test_a_server_without_props_leaves_the_window_unknown(openai_server: OpenAIServer) -> None:
    from reports.providers import get_provider

    assert get_provider().context_length("m") is None
