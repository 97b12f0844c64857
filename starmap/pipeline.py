"""The starmap pipeline: ten stages, some of them side by side.

organisation -> (learners | gaps) -> objectives (JSON) -> (modalities | measurement)
-> (timeline | risks) -> summary -> assembly. Stages in brackets read only what came
before them, so the engine runs them at the same time.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from reports.domain.limits import JOB_FIELD_MAX_LENGTH, JOB_TITLE_MAX_LENGTH
from reports.pipelines.base import Pipeline, StageSpec
from reports.pipelines.inputs import optional_text, required_line, required_text
from reports.pipelines.registry import register as register_pipeline
from starmap import assembly, drafts
from starmap.models import (
    BUDGET_MAX,
    DELIVERY_MAX,
    INDUSTRY_MAX,
    ORGANISATION_MAX,
    ROLES_MAX,
    TIMELINE_MAX,
    Currency,
    OrganisationSize,
    StarmapJob,
)
from starmap.outputs import Objectives

LIMIT = JOB_FIELD_MAX_LENGTH
# "$50,000", "50 000 €", "EUR 12000.50": people type amounts in many ways. A currency
# (code or sign) may come before or after; thousands may be grouped by one separator.
_CODE = r"(?:USD|EUR|GBP|CHF|CAD|AUD)"
_AMOUNT = re.compile(
    rf"{_CODE}?\s*[$€£]?\s*(?P<number>.*?)\s*[$€£]?\s*{_CODE}?", re.IGNORECASE
)
_NUMBER = re.compile(
    r"-?\d+(?:\.\d+)?|-?\d{1,3}(?P<sep>[,'_ \u00a0])\d{3}(?:(?P=sep)\d{3})*(?:\.\d+)?"
)
# What GET /api/pipelines/ publishes: a number in cents. Texts as people type them are
# read too (the form sends them), but a client building from the schema sends numbers.
BUDGET_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": float(BUDGET_MAX),
         "multipleOf": 0.01},
        {"type": "null"},
    ],
    "default": None,
    "title": "Budget",
    "description": 'A positive amount with at most 2 decimals; "50,000", "$50,000" and '
    '"EUR 12000.50" are read too.',
}
AMOUNT_INVALID = "Enter an amount, e.g. 50,000."


class StarmapInput(BaseModel):
    """The inputs of a starmap: THE definition, used by the form, the API's ``input_data``
    for type ``starmap`` and the schema ``GET /api/pipelines/`` publishes."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    title: Annotated[str, required_line(JOB_TITLE_MAX_LENGTH)]
    organisation: Annotated[str, required_text(ORGANISATION_MAX)]
    industry: Annotated[str, required_text(INDUSTRY_MAX)]
    size: OrganisationSize
    roles_audiences: Annotated[str, required_text(ROLES_MAX)]
    business_goals: Annotated[str, required_text(LIMIT)]
    performance_gaps: Annotated[str, required_text(LIMIT)]
    timeline: Annotated[str, required_text(TIMELINE_MAX)]
    budget: Annotated[Decimal | None, WithJsonSchema(BUDGET_SCHEMA)] = Field(
        default=None, gt=0, le=BUDGET_MAX, decimal_places=2
    )
    currency: Currency = Currency.USD
    constraints: Annotated[str, optional_text(LIMIT)] = ""
    delivery_preferences: Annotated[str, optional_text(DELIVERY_MAX)] = ""

    @field_validator("budget", mode="before")
    @classmethod
    def _read_amount(cls, value: Any) -> Decimal | None:
        return parse_amount(value)


def parse_amount(value: Any) -> Decimal | None:
    """An amount as people type it ("$50,000", "EUR 12000.50"), or None when left empty.

    Errors carry the form's wording, so the API reports the same ones.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise PydanticCustomError("amount_invalid", AMOUNT_INVALID)
    amount = _read_text(value) if isinstance(value, str) else _read_number(value)
    if not amount.is_finite():
        raise PydanticCustomError("amount_invalid", AMOUNT_INVALID)
    if amount <= 0:
        raise PydanticCustomError("amount_not_positive", "Enter a positive amount.")
    if amount > BUDGET_MAX:
        raise PydanticCustomError(
            "amount_too_large", f"Ensure this value is less than or equal to {BUDGET_MAX}."
        )
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise PydanticCustomError(
            "amount_decimals", "Ensure that there are no more than 2 decimal places."
        )
    return amount


def _read_text(value: str) -> Decimal:
    match = _AMOUNT.fullmatch(value.strip())
    number = match and _NUMBER.fullmatch(match["number"])
    if not number:
        raise PydanticCustomError("amount_invalid", AMOUNT_INVALID)
    digits = number[0].replace(number["sep"], "") if number["sep"] else number[0]
    return Decimal(digits)


def _read_number(value: int | float | Decimal) -> Decimal:
    try:
        # str() first: a float's shortest repr, not its binary expansion.
        amount = Decimal(str(value))
    except InvalidOperation:
        raise PydanticCustomError("amount_invalid", AMOUNT_INVALID) from None
    if isinstance(value, float) and amount.is_finite():
        # 0.07 * 3 is 0.21000000000000002: a float that is cents up to its own error.
        cents = amount.quantize(Decimal("0.01"))
        if abs(cents - amount) < Decimal("1e-9") * max(Decimal(1), abs(amount)):
            amount = cents
    return amount


PIPELINE = Pipeline(
    type="starmap",
    title="Starmap",
    description=(
        "A learning-needs analysis: stakeholders, learners, gaps, objectives, delivery, "
        "measurement, timeline and budget, risks, executive summary."
    ),
    job_model=StarmapJob,
    input_schema=StarmapInput,
    prompt_dir=Path(__file__).parent / "prompts",
    brief_prompt="_brief.txt",
    list_url_name="starmap:job_list",
    nav_label="Starmaps",
    nav_order=10,
    stages=(
        StageSpec("organisation", "Organisation and stakeholders", "organisation.txt",
                  weight=1.0, max_tokens=900, draft=drafts.organisation),
        StageSpec("learners", "Learner profiles", "learners.txt", reads=("organisation",),
                  weight=1.2, max_tokens=1200, draft=drafts.learners),
        StageSpec("gaps", "Performance gaps", "gaps.txt", reads=("organisation",),
                  weight=1.0, max_tokens=900, draft=drafts.gaps),
        StageSpec("objectives", "Learning objectives", "objectives.txt",
                  reads=("learners", "gaps"), weight=1.0, max_tokens=1200, output=Objectives,
                  draft=drafts.objectives),
        StageSpec("modalities", "Delivery modalities", "modalities.txt",
                  reads=("learners", "objectives"), weight=1.2, max_tokens=1000,
                  draft=drafts.modalities),
        StageSpec("measurement", "Measurement and KPIs", "measurement.txt",
                  reads=("gaps", "objectives"), weight=1.0, max_tokens=900,
                  draft=drafts.measurement),
        StageSpec("timeline", "Timeline and budget", "timeline.txt",
                  reads=("objectives", "modalities"), weight=1.0, max_tokens=900,
                  draft=drafts.timeline),
        StageSpec("risks", "Risks and mitigations", "risks.txt",
                  reads=("organisation", "gaps", "modalities"), weight=1.0, max_tokens=900,
                  draft=drafts.risks),
        StageSpec("summary", "Executive summary", "summary.txt",
                  reads=("gaps", "objectives", "modalities", "measurement", "timeline", "risks"),
                  weight=0.8, max_tokens=700, draft=drafts.summary),
        StageSpec("assembly", "Assemble the starmap",
                  reads=("organisation", "learners", "gaps", "objectives", "modalities",
                         "measurement", "timeline", "risks", "summary"),
                  reads_inputs=("title", "organisation", "industry", "size", "timeline",
                                "budget", "currency"),
                  weight=0.2, build=assembly.assemble),
    ),
)


def register() -> None:
    """Add the starmap type to the core's registry (called from ``StarmapConfig.ready``)."""
    register_pipeline(PIPELINE)
