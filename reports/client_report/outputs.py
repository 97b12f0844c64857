"""The shapes of the client report's JSON stages: validator, schema and docs at once."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reports.pipelines.structured import StageOutput

Text = Annotated[str, Field(min_length=1)]


class BriefAnalysis(StageOutput):
    """The brief, analysed: what the report must achieve and answer."""

    client: Text = Field(description="The client's name.")
    objective: Text = Field(description="The report's objective in one sentence.")
    audience: Text = Field(description="Who reads the report.")
    key_questions: list[Text] = Field(
        min_length=1, max_length=8, description="3-5 questions the report must answer."
    )
    success_criteria: list[Text] = Field(
        max_length=8, description="2-4 ways to tell the report did its job."
    )
    tone: Text = Field(description="The tone to write in.")


class OutlineSection(StageOutput):
    title: Text = Field(description="The section's heading.")
    purpose: Text = Field(description="One sentence: which key question it answers.")


class Outline(StageOutput):
    """The body of the report, planned: 3-6 sections in reading order."""

    data_field = "sections"

    sections: list[OutlineSection] = Field(min_length=2, max_length=10)
