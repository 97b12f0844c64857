"""The shapes of the starmap's JSON stages: validator, schema and docs at once."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from reports.pipelines.structured import StageOutput

MAX_OBJECTIVES = 12
Text = Annotated[str, Field(min_length=1)]
BloomLevel = Literal[
    "remember", "understand", "apply", "analyse", "analyze", "evaluate", "create", "value"
]


class Objective(StageOutput):
    id: Text = Field(description='"LO1", "LO2", ...')
    audience: Text = Field(description="One of the roles in the brief.")
    objective: Text = Field(
        description='One observable sentence: "After the programme, <audience> can ...".'
    )
    level: BloomLevel = Field(description="The Bloom level of the objective.")
    measure: Text = Field(description="How we will know it was reached.")

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Objectives(StageOutput):
    """The programme's learning objectives: 3-8 of them (at most 12 are accepted)."""

    data_field = "objectives"

    objectives: list[Objective] = Field(min_length=3, max_length=MAX_OBJECTIVES)
