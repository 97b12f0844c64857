"""The dependency graph of a pipeline: which stages read which stages and which input
fields. The one definition that forks, edits, retries and review points use (docs/api.md,
"Pipelines")."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.pipelines.base import Pipeline, StageSpec

# ``{{ input.client }}``, ``{% if input.budget %}``, ``input.audience|default:...``.
_INPUT_FIELD = re.compile(r"\binput\.([A-Za-z_][A-Za-z0-9_]*)")


def downstream(pipeline: Pipeline, keys: Iterable[str]) -> set[str]:
    """Every stage that reads one of ``keys``, directly or through other stages (the
    ``keys`` themselves are not included unless one reads another)."""
    wanted = set(keys)
    found: set[str] = set()
    for spec in pipeline.stages:  # specs read only earlier stages: one pass suffices
        if wanted.intersection(spec.reads) or found.intersection(spec.reads):
            found.add(spec.key)
    return found


def inputs_read(pipeline: Pipeline, spec: StageSpec) -> tuple[str, ...]:
    """The input fields the stage reads itself, in the input schema's order: declared on
    the spec (``reads_inputs``), or else the fields its prompt names (the pipeline's brief
    included, which every model stage is sent)."""
    fields = list(pipeline.input_schema.model_fields)
    if spec.reads_inputs is not None:
        named = set(spec.reads_inputs)
    else:
        named = set()
        if spec.calls_model and spec.prompt:
            templates = [spec.prompt, *([pipeline.brief_prompt] if pipeline.brief_prompt else [])]
            for name in templates:
                named |= _fields_named(str(pipeline.prompt_dir / name))
    return tuple(field for field in fields if field in named)


def readers_of_inputs(pipeline: Pipeline, fields: Iterable[str]) -> set[str]:
    """Every stage whose output depends on one of the input ``fields``: the stages that
    read one of them, and every stage that reads those, transitively."""
    changed = set(fields)
    direct = {
        spec.key for spec in pipeline.stages if changed.intersection(inputs_read(pipeline, spec))
    }
    return direct | downstream(pipeline, direct)


def is_editable(spec: StageSpec) -> bool:
    """A person may replace the stage's output: every stage a model writes (an assembly
    is rebuilt from the others, so it is never edited by hand)."""
    return spec.calls_model


def in_order(pipeline: Pipeline, keys: Iterable[str]) -> list[str]:
    """``keys`` in the pipeline's stage order."""
    wanted = set(keys)
    return [spec.key for spec in pipeline.stages if spec.key in wanted]


@functools.cache
def _fields_named(path: str) -> frozenset[str]:
    with open(path, encoding="utf-8") as template:
        return frozenset(_INPUT_FIELD.findall(template.read()))
