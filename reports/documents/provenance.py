"""Where a document came from, stage by stage: kept with every version, printed at the
end of every export."""

from __future__ import annotations

from typing import Any

from reports.domain.money import money_str
from reports.models import Report, Stage, StageSource, StageStatus


def stage_provenance(stage: Stage) -> dict[str, Any]:
    """One stage as it stood: model, tokens, cost, attempts, start and end."""
    return {
        "key": stage.key,
        "title": stage.title,
        "status": stage.status,
        "model": stage.model,
        "tokens_in": stage.tokens_in,
        "tokens_out": stage.tokens_out,
        "tokens_cached": stage.tokens_cached,
        "cost_usd": money_str(stage.cost_usd),
        "attempts": stage.attempts,
        "reused": stage.source == StageSource.COPIED,  # (before ``source``: kept for old readers)
        "source": stage.source,
        "cut_off": stage.cut_off,
        "started_at": stage.started_at.isoformat() if stage.started_at else None,
        "finished_at": stage.finished_at.isoformat() if stage.finished_at else None,
    }


def stages_provenance(stages: list[Stage]) -> list[dict[str, Any]]:
    return [stage_provenance(stage) for stage in stages]


def is_missing(entry: dict[str, Any]) -> bool:
    """A stage that has not finished: an export marks it as missing."""
    return entry["status"] not in (StageStatus.COMPLETED, StageStatus.SKIPPED)


def report_provenance(report: Report) -> list[dict[str, Any]]:
    """A version's stages (empty for a document made before streaming)."""
    return list(report.provenance or [])


def models_of(report: Report) -> list[str]:
    """The models that wrote a version's stages, each once, in stage order."""
    return list(dict.fromkeys(e["model"] for e in report_provenance(report) if e.get("model")))
