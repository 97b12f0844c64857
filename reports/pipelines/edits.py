"""A person's replacement for a stage's output, checked as the model's answer would be:
a prose stage takes text, a JSON stage data that fits its ``output_schema``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import TypeAdapter, ValidationError

from reports.pipelines.errors import OutputInvalid
from reports.pipelines.inputs import error_details, required_text

if TYPE_CHECKING:
    from reports.pipelines.base import StageSpec

# A person's text for one stage: longer than any stage's output limit allows.
EDIT_MAX_LENGTH = 100_000
_text = TypeAdapter(Annotated[str, required_text(EDIT_MAX_LENGTH)])


class EditInvalid(ValueError):
    """The replacement does not fit the stage; ``details`` as the API's error details."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def edited_output(spec: StageSpec, *, text: Any = None, data: Any = None) -> tuple[str, Any]:
    """The stage's ``(output, data)`` from a person's ``text`` (prose) or ``data`` (JSON
    stage: the object its schema describes, or for a list stage the bare list)."""
    if spec.output is not None:
        if data is None:
            raise EditInvalid(f"{spec.title} is a JSON stage: send its data.",
                              [{"field": "data", "message": "Field required."}])
        value = {spec.output.data_field: data} if (
            isinstance(data, list) and spec.output.data_field) else data
        if not isinstance(value, dict):
            raise EditInvalid("The data must be a JSON object.",
                              [{"field": "data", "message": "Expected a JSON object."}])
        try:
            shaped = spec.output.model_validate(value)
        except ValidationError as exc:
            errors = error_details(exc.errors(include_url=False, include_input=False))
            details = [{**e, "field": ".".join(filter(None, ["data", e["field"]]))}
                       for e in errors]
            raise EditInvalid("The data does not fit the stage's schema.", details) from None
        return json.dumps(shaped.model_dump(mode="json"), indent=2), shaped.stage_data()
    if data is not None:
        raise EditInvalid(f"{spec.title} is prose: send its text.",
                          [{"field": "text", "message": "Field required."}])
    try:
        clean = _text.validate_python("" if text is None else text).strip()
    except ValidationError as exc:
        errors = error_details(exc.errors(include_url=False, include_input=False))
        raise EditInvalid("The text is invalid.",
                          [{**e, "field": "text"} for e in errors]) from None
    try:
        return clean, spec.parse_text(clean)
    except OutputInvalid as exc:
        raise EditInvalid(f"The text does not fit {spec.title}: {exc}",
                          [{"field": "text", "message": str(exc)}]) from None
