"""What the offline model writes for each starmap stage.

Deterministic text composed from the brief and the earlier stages: without a model the
starmap is still a usable first pass a learning consultant can edit. Every piece says
it is offline output.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from reports.pipelines.base import StageContext
from starmap import inputs as brief
from starmap.outputs import Objective, Objectives

OFFLINE_NOTE = (
    "_Offline draft: composed without a language model from the brief you gave. "
    "Check it with the people named before acting on it._"
)

BLOOM_BY_KIND = {"knowledge": "understand", "skill": "apply", "motivation": "value",
                 "environment": "apply"}
VERB_BY_KIND = {
    "knowledge": "explain what they need to know and find the rest unaided",
    "skill": "do the task to the agreed standard, observed on the job",
    "motivation": "say why the change matters to them and act on it",
    "environment": "use the fixed tools and processes",
}


def _org(ctx: StageContext) -> str:
    return brief.text(ctx.inputs, "organisation", "the organisation")


def organisation(ctx: StageContext) -> str:
    i = ctx.inputs
    org = _org(ctx)
    goals = brief.items(brief.text(i, "business_goals"), 4)
    lines = [
        OFFLINE_NOTE,
        "",
        f"**{org}** works in {brief.text(i, 'industry', 'its industry')} with "
        f"{brief.text(i, 'size', 'an unstated number of')} people. The programme exists to "
        "serve these business goals:",
        "",
        *[f"- {goal}" for goal in goals or ["(no goals given: agree them first)"]],
        "",
        "### Stakeholders",
        "",
        "| Stakeholder | Stake in the programme | What they need from it |",
        "| --- | --- | --- |",
        f"| Executive sponsor | Owns the business goals at {brief.cell(org)} | "
        "A short monthly read-out tied to the goals |",
        "| Line managers | Release people's time and coach on the job | "
        "Clear expectations, little admin, a coaching guide |",
    ]
    for role in brief.roles(i)[:4]:
        lines.append(
            f"| {brief.cell(role.name)} | The people who learn and change how they work | "
            "Relevant practice, time protected for it, recognition |"
        )
    lines += [
        "| L&D / HR | Designs, runs and measures the programme | "
        "Access to data and subject experts |",
        "",
        "### Questions to settle with the sponsor",
        "",
        "1. Which single business measure will tell us the programme worked?",
        "2. How much working time per person can be protected each week?",
        "3. Who signs off content, and how fast?",
    ]
    return "\n".join(lines)


def learners(ctx: StageContext) -> str:
    i = ctx.inputs
    prefs = brief.text(i, "delivery_preferences", "no stated preference")
    parts = [OFFLINE_NOTE]
    for role in brief.roles(i):
        count = f"about {role.headcount:,} people" if role.headcount else "head count to confirm"
        parts += [
            "",
            f"### {role.name}",
            "",
            f"- **Size:** {count}.",
            "- **Starting point:** to be confirmed with a short skills check; assume mixed "
            "experience, from new starters to experts who can mentor others.",
            "- **What they need to do better:** the behaviours behind the gaps listed for "
            f"{_org(ctx)} (see Performance gaps).",
            f"- **Constraints:** limited time away from work; delivery preference: {prefs}.",
            "- **Motivation:** learning that visibly helps with today's work and is "
            "recognised by their manager.",
        ]
    return "\n".join(parts)


def gaps(ctx: StageContext) -> str:
    listed = brief.items(brief.text(ctx.inputs, "performance_gaps")) or [
        "Gaps not described yet: run interviews and look at performance data first"
    ]
    lines = [
        OFFLINE_NOTE,
        "",
        "| Gap | Kind | Training can close it? | Evidence to collect |",
        "| --- | --- | --- | --- |",
    ]
    for gap in listed:
        kind = brief.gap_kind(gap)
        fixable = {
            "knowledge": "Yes",
            "skill": "Yes, with practice and feedback",
            "motivation": "Partly: needs management action too",
            "environment": "No: fix the tool, process or time first",
        }[kind]
        lines.append(f"| {brief.cell(gap)} | {kind} | {fixable} | Baseline figure and its owner |")
    lines += [
        "",
        "Gaps marked *environment* or *motivation* go to the sponsor as non-training "
        "actions: training alone will not close them.",
    ]
    return "\n".join(lines)


def objectives_data(ctx: StageContext) -> list[dict[str, str]]:
    """Learning objectives as data: one per gap, spread across the roles named."""
    roles = brief.roles(ctx.inputs)
    listed = brief.items(brief.text(ctx.inputs, "performance_gaps"), 5) or [
        "apply the new ways of working the business goals require"
    ]
    goal = (brief.items(brief.text(ctx.inputs, "business_goals"), 1) or ["the business goals"])[0]
    found = []
    for index, gap in enumerate(listed):
        role = roles[index % len(roles)]
        kind = brief.gap_kind(gap)
        found.append({
            "id": f"LO{index + 1}",
            "audience": role.name,
            "objective": f"After the programme, {role.name} can {VERB_BY_KIND[kind]} so that "
                         f"this is no longer true: \u201c{gap}\u201d.",
            "level": BLOOM_BY_KIND[kind],
            "measure": f"Observed on the job within 30 days; linked to: {goal}.",
        })
    while len(found) < 3:  # the stage promises at least three
        number = len(found) + 1
        role = roles[(number - 1) % len(roles)]
        found.append({
            "id": f"LO{number}",
            "audience": role.name,
            "objective": f"{role.name} can explain how their daily work moves {goal.lower()}.",
            "level": "understand",
            "measure": "Manager check-in using a three-question rubric.",
        })
    return found


def objectives(ctx: StageContext) -> str:
    items = [Objective.model_validate(item) for item in objectives_data(ctx)]
    return Objectives(objectives=items).model_dump_json(indent=2)


def _objectives(ctx: StageContext) -> list[dict[str, Any]]:
    data = ctx.data.get("objectives")
    return data if isinstance(data, list) else objectives_data(ctx)


def modalities(ctx: StageContext) -> str:
    prefs = brief.text(ctx.inputs, "delivery_preferences").lower()
    remote = any(word in prefs for word in ("remote", "online", "virtual", "distributed"))
    mobile = "mobile" in prefs or "phone" in prefs
    live = "virtual live sessions (60-90 min)" if remote else "short in-person workshops"
    lines = [
        OFFLINE_NOTE,
        "",
        "A blended 70-20-10 approach: most learning happens on the job, supported by "
        "coaching and a small amount of formal content.",
        "",
        "| Objective | Formal (10%) | Social (20%) | On the job (70%) |",
        "| --- | --- | --- | --- |",
    ]
    for item in _objectives(ctx):
        formal = "micro-lessons on mobile" if mobile else "self-paced e-learning (15 min units)"
        if item.get("level") == "apply":
            formal = f"{live} with practice"
        lines.append(
            f"| {brief.cell(item.get('id', ''))} | {formal} | Peer practice, manager coaching | "
            "A real task with a checklist, reviewed by the manager |"
        )
    lines += [
        "",
        "**Delivery preferences respected:** "
        f"{brief.text(ctx.inputs, 'delivery_preferences', 'none stated')}.",
        "**Platform:** use what the organisation already has (LMS, intranet or chat "
        "tool) before buying anything new.",
    ]
    return "\n".join(lines)


def measurement(ctx: StageContext) -> str:
    goals = brief.items(brief.text(ctx.inputs, "business_goals"), 3) or ["the business goal"]
    lines = [
        OFFLINE_NOTE,
        "",
        "| Level | What we measure | How | When |",
        "| --- | --- | --- | --- |",
        "| 1. Reaction | Relevance and confidence | Two-question pulse after each unit | Weekly |",
        "| 2. Learning | Objectives met (see the objectives table) | "
        "Scenario checks, manager rubric | End of each module |",
        "| 3. Behaviour | The new behaviours used at work | "
        "Manager observation, system data | 30 and 90 days |",
    ]
    for goal in goals:
        lines.append(
            f"| 4. Results | {brief.cell(goal)} | Business data, against a baseline | Quarterly |"
        )
    lines += [
        "",
        "**Before launch:** agree each baseline and its owner. **Leading indicator:** "
        "share of learners applying a new behaviour each week. **Lagging indicator:** "
        "the business results above.",
    ]
    return "\n".join(lines)


PHASES = (
    ("Discover", "interviews, skills check, baselines", Decimal("0.10")),
    ("Design", "objectives, content plan, measures", Decimal("0.25")),
    ("Pilot", "one team, feedback, fixes", Decimal("0.15")),
    ("Roll-out", "all audiences, manager coaching", Decimal("0.35")),
    ("Review", "results against baselines, next steps", Decimal("0.05")),
)
CONTINGENCY = Decimal("0.10")


def timeline(ctx: StageContext) -> str:
    i = ctx.inputs
    amount = brief.budget(i)
    currency = brief.text(i, "currency", "USD")
    lines = [
        OFFLINE_NOTE,
        "",
        f"**Timeline asked for:** {brief.text(i, 'timeline', 'not stated')}.",
        "",
        "| Phase | Work | Share of budget | Amount |",
        "| --- | --- | --- | --- |",
    ]
    for name, work, share in PHASES:
        value = brief.money(amount * share, currency) if amount else "to estimate"
        lines.append(f"| {name} | {work} | {share:.0%} | {value} |")
    contingency = brief.money(amount * CONTINGENCY, currency) if amount else "to estimate"
    lines.append(f"| Contingency | unplanned work | {CONTINGENCY:.0%} | {contingency} |")
    people = brief.headcount(i)
    lines.append("")
    if amount and people:
        lines.append(
            f"**Per learner:** about {brief.money(amount / people, currency)} for "
            f"{people:,} people."
        )
    elif not amount:
        lines.append("**No budget given:** estimate the design and roll-out costs in Discover.")
    return "\n".join(lines)


def risks(ctx: StageContext) -> str:
    constraints = brief.items(brief.text(ctx.inputs, "constraints"), 3)
    rows = [
        ("Managers cannot release time", "High", "High",
         "Agree protected hours with the sponsor before launch", "Sponsor"),
        ("Low completion after the first weeks", "Medium", "High",
         "Short units, manager check-ins, visible progress", "L&D lead"),
        ("No baseline, so results cannot be shown", "Medium", "High",
         "Collect baselines in Discover; do not launch without them", "L&D lead"),
        ("Gaps are caused by tools or process, not skills", "Medium", "Medium",
         "Send non-training gaps to their owners early", "Sponsor"),
    ]
    rows += [(f"Constraint: {c}", "Medium", "Medium", "Plan around it explicitly in Design",
              "Programme lead") for c in constraints]
    lines = [
        OFFLINE_NOTE,
        "",
        "| Risk | Likelihood | Impact | Mitigation | Owner |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [" | ".join(["", *[brief.cell(v) for v in row], ""]).strip() for row in rows]
    return "\n".join(lines)


def summary(ctx: StageContext) -> str:
    i = ctx.inputs
    roles = ", ".join(r.name for r in brief.roles(i)[:3])
    goal = (brief.items(brief.text(i, "business_goals"), 1) or ["its business goals"])[0]
    count = len(_objectives(ctx))
    amount = brief.budget(i)
    currency = brief.text(i, "currency", "USD")
    money = brief.money(amount, currency) if amount else "a budget to be set"
    return (
        f"{OFFLINE_NOTE}\n\n"
        f"{_org(ctx)} wants to {goal[0].lower()}{goal[1:]}. This starmap sets out who needs to "
        f"learn what to get there ({roles}), in {count} learning objectives tied to the "
        "performance gaps in the brief. Delivery is blended and mostly on the job, so people "
        "learn while doing their work and managers coach. Success is measured at four levels, "
        "ending with the business results the sponsor cares about, against baselines agreed "
        "before launch. The plan runs in five phases "
        f"({brief.text(i, 'timeline', 'timeline to agree')}) "
        f"for {money}, with a pilot before roll-out. The main risk is time: managers must "
        "protect it, or nothing else in this plan works."
    )
