"""What the offline model writes for each client-report stage.

Deterministic text built from the brief and the earlier stages, so a report made
without a model is still a useful first draft. Every piece says it is offline output.
"""

from __future__ import annotations

import re
from typing import Any

from reports.client_report.outputs import BriefAnalysis, Outline, OutlineSection
from reports.pipelines.base import StageContext

OFFLINE_NOTE = "_Offline draft: composed without a language model from the brief you gave._"


def _sentences(text: str, limit: int = 3) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+|\n+", text or "") if p.strip()]
    return parts[:limit]


def _first_sentence(text: str, fallback: str) -> str:
    found = _sentences(text, 1)
    return found[0].rstrip(".") if found else fallback


def _topic(inputs: Any) -> str:
    return _first_sentence(inputs.get("objective", ""), "the objective").lower()


def brief(ctx: StageContext) -> str:
    i = ctx.inputs
    client = i.get("client") or "the client"
    objective = _first_sentence(i.get("objective", ""), "Clarify the objective")
    audience = i.get("audience") or "the leadership team"
    questions = [
        f"Where does {client} stand today, and what would it take to {_topic(i)}?",
        f"What stops {client} from reaching the objective, and what helps?",
        "Which options are realistic within the stated constraints?",
        f"What should {audience} decide first, and how will progress be measured?",
    ]
    criteria = [
        f"{audience} can make a decision from the report alone",
        "Every recommendation has an owner and a first step",
        "Assumptions are stated and can be checked",
    ]
    data = BriefAnalysis(
        client=client,
        objective=objective + ".",
        audience=audience,
        key_questions=questions,
        success_criteria=criteria,
        tone="plain, direct, evidence-led (offline draft)",
    )
    return data.model_dump_json(indent=2)


def context(ctx: StageContext) -> str:
    i = ctx.inputs
    client = i.get("client") or "the client"
    notes = _sentences(i.get("context_notes", ""), 4)
    constraints = _sentences(i.get("constraints", ""), 3)
    lines = [
        OFFLINE_NOTE,
        "",
        f"**Situation.** {client} has asked for a report whose objective is: "
        f"{_first_sentence(i.get('objective', ''), 'not stated')}.",
    ]
    if notes:
        lines += ["", "**What we were told.**"] + [f"- {n}" for n in notes]
    lines += [
        "",
        "**Assumptions** (to be confirmed with the client):",
        f"- A1: the objective above is agreed by {i.get('audience') or 'the decision makers'}.",
        "- A2: current data on performance and costs can be made available.",
        "- A3: changes can start within the next quarter.",
    ]
    if constraints:
        lines += ["", "**Constraints we respect.**"] + [f"- {c}" for c in constraints]
    lines += ["", "**Out of scope.** Detailed implementation plans and vendor selection."]
    return "\n".join(lines)


def outline_data(ctx: StageContext) -> list[dict[str, str]]:
    """The outline as data: four sections every report of this kind needs."""
    client = ctx.inputs.get("client") or "the client"
    sections = [
        {"title": "Where things stand", "purpose": f"Describe {client}'s current position."},
        {"title": "What is in the way", "purpose": "Name the main obstacles and enablers."},
        {"title": "Options", "purpose": "Compare realistic options within the constraints."},
        {"title": "Measuring progress", "purpose": "Define how success will be measured."},
    ]
    return sections


def outline(ctx: StageContext) -> str:
    sections = [OutlineSection.model_validate(item) for item in outline_data(ctx)]
    return Outline(sections=sections).model_dump_json(indent=2)


def sections(ctx: StageContext) -> str:
    i = ctx.inputs
    client = i.get("client") or "the client"
    topic = _topic(i)
    outline_items = ctx.data.get("outline") or outline_data(ctx)
    questions = (ctx.data.get("brief") or {}).get("key_questions", [])
    bodies = [
        f"{client} starts from a position that is partly understood. The aim, as the brief "
        f"puts it, is to {topic}; the first task is to agree a baseline everyone accepts, using "
        "figures the organisation already collects rather than new surveys.",
        "Three kinds of obstacle usually matter most: unclear ownership, competing "
        "priorities for the same people, and missing data to show progress. Enablers are "
        "the opposite: a named sponsor, protected time, and a small set of measures "
        "reviewed on a fixed rhythm.",
        "Option A: a focused pilot with one team for eight weeks, low cost and fast "
        "learning. Option B: a phased roll-out across teams over two quarters. Option C: "
        "a single programme launched at once, highest cost and risk. A pilot followed by "
        "a phased roll-out (A then B) fits most constraints.",
        "Choose three to five measures tied to the objective, agree their baselines, and "
        "review them monthly with the sponsor. Pair one leading indicator (activity) with "
        "one lagging indicator (outcome) so early signals are visible.",
    ]
    parts = [OFFLINE_NOTE]
    for index, item in enumerate(outline_items):
        body = bodies[index % len(bodies)]
        parts += ["", f"## {item.get('title', f'Section {index + 1}')}", "", body]
        if index < len(questions):
            parts += ["", f"*This section answers: {questions[index]}*"]
    return "\n".join(parts)


def recommendations(ctx: StageContext) -> str:
    client = ctx.inputs.get("client") or "the client"
    items = [
        (
            "Agree the baseline",
            "the body shows progress cannot be judged without one",
            "the sponsor",
            "list the three figures already collected and who owns them",
        ),
        (
            "Run an eight-week pilot",
            "it tests the approach at low cost (Option A)",
            "one team lead",
            "pick the pilot team and book a kick-off",
        ),
        (
            "Protect time for the work",
            "competing priorities are the main obstacle",
            "line managers",
            "reserve two hours a week in calendars",
        ),
        (
            "Review monthly",
            "a fixed rhythm keeps measures honest",
            "the sponsor",
            "schedule the first review four weeks from now",
        ),
    ]
    lines = [OFFLINE_NOTE, ""]
    for number, (action, why, owner, step) in enumerate(items, start=1):
        lines.append(
            f"{number}. **{action}** at {client}: {why}. Owner: {owner}. First step: {step}."
        )
    return "\n".join(lines)


def summary(ctx: StageContext) -> str:
    i = ctx.inputs
    client = i.get("client") or "the client"
    return (
        f"{OFFLINE_NOTE}\n\n"
        f"This report supports {i.get('audience') or 'the leadership team'} at {client} "
        f"in deciding how to {_topic(i)}. It finds that progress depends less on "
        "new spending than on three things: an agreed baseline, protected time for the "
        "people doing the work, and a short list of measures reviewed on a fixed rhythm. "
        "Of the options compared, a focused eight-week pilot followed by a phased roll-out "
        "gives the best balance of speed, cost and risk. We recommend agreeing the "
        "baseline this month, starting the pilot with one team, protecting two hours a "
        "week for the work, and reviewing progress monthly with the sponsor."
    )


def body_sections(text: str) -> str:
    """The section drafts as the document's body. Whatever comes before their first
    heading (the offline note, a model's preamble) goes under that heading: placed as it
    is, it would read as the end of "Context and assumptions" (issue 31, item 9)."""
    text = text.strip()
    match = re.search(r"^#{1,6} .*$", text, flags=re.MULTILINE)
    if match is None or match.start() == 0:
        return text
    preamble, heading, rest = text[: match.start()].strip(), match.group(0), text[match.end():]
    return f"{heading}\n\n{preamble}\n\n{rest.lstrip()}".strip()


def assemble(ctx: StageContext) -> str:
    """The final document, built from the stage outputs without a model call."""
    i = ctx.inputs
    brief_data = ctx.data.get("brief") or {}
    lines = [
        f"# {i.get('title') or 'Client report'}",
        "",
        f"**Client:** {i.get('client', '')}  ",
        f"**Audience:** {i.get('audience') or brief_data.get('audience', '')}",
        "",
        "## Executive summary",
        "",
        ctx.outputs.get("summary", "").strip(),
        "",
        "## Context and assumptions",
        "",
        ctx.outputs.get("context", "").strip(),
        "",
        body_sections(ctx.outputs.get("sections", "")),
        "",
        "## Recommendations",
        "",
        ctx.outputs.get("recommendations", "").strip(),
    ]
    questions = brief_data.get("key_questions") or []
    if questions:
        lines += ["", "## Questions this report answers", ""] + [f"- {q}" for q in questions]
    return "\n".join(lines).strip() + "\n"
