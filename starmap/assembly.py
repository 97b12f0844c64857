"""The starmap document, built from the stage outputs without a model call."""

from __future__ import annotations

from typing import Any

from reports.pipelines.base import StageContext
from starmap import inputs as brief

SECTIONS = (
    ("organisation", "Organisation and stakeholders"),
    ("learners", "Learner profiles"),
    ("gaps", "Performance gaps"),
    ("objectives", "Learning objectives"),
    ("modalities", "Delivery approach"),
    ("measurement", "Measurement and KPIs"),
    ("timeline", "Timeline and budget"),
    ("risks", "Risks and mitigations"),
)


def objectives_table(items: list[dict[str, Any]]) -> str:
    rows = [
        "| # | Audience | Objective | Level | Measure |",
        "| --- | --- | --- | --- | --- |",
    ]
    for item in items:
        rows.append(
            "| "
            + " | ".join(
                brief.cell(item.get(key, ""))
                for key in ("id", "audience", "objective", "level", "measure")
            )
            + " |"
        )
    return "\n".join(rows)


def _facts(ctx: StageContext) -> list[str]:
    i = ctx.inputs
    amount = brief.budget(i)
    budget = brief.money(amount, brief.text(i, "currency", "USD")) if amount else "not set"
    return [
        f"**Organisation:** {brief.text(i, 'organisation')} ({brief.text(i, 'industry')}, "
        f"{brief.text(i, 'size')} people)  ",
        f"**Timeline:** {brief.text(i, 'timeline', 'not stated')}  ",
        f"**Budget:** {budget}",
    ]


def assemble(ctx: StageContext) -> str:
    """The final Markdown document: facts, executive summary, then one section per stage."""
    lines = [f"# {ctx.inputs.get('title') or 'Starmap'}", "", *_facts(ctx), ""]
    lines += ["## Executive summary", "", ctx.outputs.get("summary", "").strip(), ""]
    for key, heading in SECTIONS:
        lines += [f"## {heading}", ""]
        data = ctx.data.get(key)
        if key == "objectives" and isinstance(data, list):
            lines.append(objectives_table(data))
        else:
            lines.append(ctx.outputs.get(key, "").strip())
        lines.append("")
    return "\n".join(lines).strip() + "\n"
