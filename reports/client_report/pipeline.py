"""The client-report pipeline: brief -> context -> outline -> sections -> recommendations
-> summary -> assembly."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict

from reports.client_report import drafts
from reports.client_report.outputs import BriefAnalysis, Outline
from reports.domain.limits import JOB_FIELD_MAX_LENGTH, JOB_TITLE_MAX_LENGTH
from reports.models import ReportJob
from reports.pipelines.base import Pipeline, StageSpec
from reports.pipelines.inputs import optional_text, required_line, required_text
from reports.pipelines.registry import register as register_pipeline

LIMIT = JOB_FIELD_MAX_LENGTH


class ReportInput(BaseModel):
    """The inputs of a client report: THE definition, used by the form, the API's
    ``input_data`` for type ``report`` and the schema ``GET /api/pipelines/`` publishes."""

    # Stripped first, so a blank title is refused here as it is by the form.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: Annotated[str, required_line(JOB_TITLE_MAX_LENGTH)]
    client: Annotated[str, required_text(200)]
    objective: Annotated[str, required_text(LIMIT)]
    audience: Annotated[str, optional_text(300)] = ""
    context_notes: Annotated[str, optional_text(LIMIT)] = ""
    constraints: Annotated[str, optional_text(LIMIT)] = ""


PIPELINE = Pipeline(
    type="report",
    title="Client report",
    description="A client report: brief, context, outline, body, recommendations, summary.",
    job_model=ReportJob,
    input_schema=ReportInput,
    prompt_dir=Path(__file__).parent / "prompts",
    brief_prompt="_brief.txt",
    list_url_name="client_report:job_list",
    nav_label="Reports",
    nav_order=0,
    stages=(
        StageSpec(
            "brief",
            "Brief analysis",
            "brief.txt",
            weight=1.0,
            max_tokens=600,
            output=BriefAnalysis,
            draft=drafts.brief,
        ),
        StageSpec(
            "context",
            "Context and assumptions",
            "context.txt",
            reads=("brief",),
            weight=1.5,
            draft=drafts.context,
        ),
        StageSpec(
            "outline",
            "Outline",
            "outline.txt",
            reads=("brief", "context"),
            weight=1.0,
            max_tokens=600,
            output=Outline,
            draft=drafts.outline,
        ),
        StageSpec(
            "sections",
            "Section drafts",
            "sections.txt",
            reads=("brief", "context", "outline"),
            weight=4.0,
            max_tokens=3000,
            draft=drafts.sections,
        ),
        StageSpec(
            "recommendations",
            "Recommendations",
            "recommendations.txt",
            reads=("sections",),
            weight=1.5,
            draft=drafts.recommendations,
        ),
        StageSpec(
            "summary",
            "Executive summary",
            "summary.txt",
            reads=("sections", "recommendations"),
            weight=1.0,
            draft=drafts.summary,
        ),
        StageSpec(
            "assembly",
            "Assemble the report",
            reads=("brief", "context", "sections", "recommendations", "summary"),
            reads_inputs=("title", "client", "audience"),
            weight=0.2,
            build=drafts.assemble,
        ),
    ),
)


def register() -> None:
    register_pipeline(PIPELINE)
