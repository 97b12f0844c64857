"""A JSON stage's shape, declared once as a pydantic model.

The model is the validator (``parse_output``), the JSON schema sent to the model
(``schema_for``: OpenAI's ``response_format``, Anthropic's forced tool, or the
instructions of the fallback) and the documentation (``GET /api/pipelines/``).

Providers want an object at the top of the schema; a stage whose data is a list
declares the field that holds it (``data_field``) and its data is that list.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from reports.pipelines.errors import OutputInvalid

# What OpenAI's strict mode accepts besides the structure itself; other keywords
# (minLength, maxItems on some models, defaults) are left out of a strict schema, and
# the validator still enforces them (a violation is re-asked).
STRICT_KEYWORDS = frozenset({
    "type", "properties", "required", "items", "enum", "const", "anyOf", "description",
    "title", "additionalProperties", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
})
MAX_ERRORS = 3


class StageOutput(BaseModel):
    """The base of every JSON stage's shape. Unknown keys are dropped, not refused: a
    model without schema support may add some."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    # For a stage whose data is a list: the field that holds it ("" = the object).
    data_field: ClassVar[str] = ""

    def stage_data(self) -> Any:
        """What the stage saves as its ``data`` (and later stages read)."""
        dumped = self.model_dump(mode="json")
        return dumped[self.data_field] if self.data_field else dumped


@dataclass(frozen=True)
class OutputSchema:
    """A stage's JSON schema as providers send it: ``name`` (``^[A-Za-z0-9_-]+$``),
    ``schema`` (refs inlined, objects closed) and ``strict`` (the schema fits strict
    mode: every property required)."""

    name: str
    schema: dict[str, Any]
    strict: bool
    description: str = ""

    def as_text(self) -> str:
        """The schema as the fallback's instructions quote it."""
        return json.dumps(self.schema, indent=2)

    def shorter(self) -> OutputSchema:
        """The same shape with as few list items as it allows (at most 3 where it sets
        no minimum): asked again after an answer ran past the output limit. Every answer
        to it is an answer to this one, and strict mode takes it."""
        return dataclasses.replace(self, schema=_fewest_items(self.schema))


@functools.cache
def schema_for(model: type[StageOutput]) -> OutputSchema:
    """The provider-ready schema of ``model`` (cached: models do not change)."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    schema = _inline(raw, defs)
    strict = _all_required(schema)
    if strict:
        schema = _strict_subset(schema)
    description = (model.__doc__ or "").strip().split("\n\n")[0]
    return OutputSchema(name=model.__name__, schema=schema, strict=strict,
                        description=" ".join(description.split()))


def documented_schema(model: type[StageOutput]) -> dict[str, Any]:
    """The full JSON schema of ``model``, every constraint included (the API docs)."""
    return model.model_json_schema()


def parse_output(model: type[StageOutput], text: str) -> Any:
    """Validate the model's text against ``model``; returns the stage's data.

    A fenced code block is fine, and so is a bare list for a list stage (what a model
    that was only told about the shape tends to send)."""
    value = loads(text)
    if isinstance(value, list) and model.data_field:
        value = {model.data_field: value}
    if not isinstance(value, dict):
        raise OutputInvalid("expected a JSON object")
    try:
        return model.model_validate(value).stage_data()
    except ValidationError as exc:
        raise OutputInvalid(_readable(exc)) from exc


def loads(text: str) -> Any:
    """JSON from a model's answer; a Markdown code fence around it is fine, and so are
    control characters inside strings."""
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.split("\n", 1)[1] if "\n" in cleaned else ""
        cleaned = cleaned.rsplit("```", 1)[0]
    try:
        # strict=False: a raw newline or tab inside a string is read, not refused (small
        # models held to a grammar write them, and nothing is lost by reading them).
        return json.loads(cleaned, strict=False)
    except json.JSONDecodeError as exc:
        raise OutputInvalid(f"not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def _readable(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:MAX_ERRORS]:
        where = ".".join(str(part) for part in error.get("loc", ())) or "the answer"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = exc.error_count() - MAX_ERRORS
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by its definition, and objects closed."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    found = {key: _inline(value, defs) for key, value in node.items()}
    if found.get("type") == "object" and "properties" in found:
        found["additionalProperties"] = False
    return found


def _all_required(node: Any) -> bool:
    """Strict mode's rule: every object lists all its properties as required."""
    if isinstance(node, list):
        return all(_all_required(item) for item in node)
    if not isinstance(node, dict):
        return True
    if node.get("type") == "object" and "properties" in node:
        if set(node["properties"]) != set(node.get("required", ())):
            return False
        if not all(_all_required(value) for value in node["properties"].values()):
            return False
    return all(
        _all_required(value) for key, value in node.items() if key not in ("properties",)
    )


def _fewest_items(node: Any) -> Any:
    if isinstance(node, list):
        return [_fewest_items(item) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: _fewest_items(value) for key, value in node.items()}
    if found.get("type") == "array":
        fewest = max(1, int(found.get("minItems", 0) or 3))
        found["maxItems"] = min(int(found.get("maxItems", fewest)), fewest)
    return found


def _strict_subset(node: Any) -> Any:
    """The schema without keywords strict mode refuses (the validator keeps them)."""
    if isinstance(node, list):
        return [_strict_subset(item) for item in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            kept[key] = {name: _strict_subset(sub) for name, sub in value.items()}
        elif key in STRICT_KEYWORDS:
            kept[key] = _strict_subset(value)
    return kept
