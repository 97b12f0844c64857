"""A bench-only pipeline: two model stages of fixed length (no JSON parsing), so one
stream takes ~10 s at 50 tokens/s instead of the client report's minutes. The offline
model writes the drafts below; bench/llm_server.py streams ``max_tokens`` tokens.

Registered in the bench process and in the bench worker (``bench.worker_app``); the
web process does not need it (snapshots fall back gracefully for unknown types).
"""

from __future__ import annotations

from reports.client_report.pipeline import PIPELINE as REPORT
from reports.pipelines.base import Pipeline, StageContext, StageSpec
from reports.pipelines.registry import register as register_pipeline
from reportsite.environment import env

BENCH_TYPE = "bench"
# bench/everything.py makes them longer (the web process and the runner read the same).
DRAFT_TOKENS = env("BENCH_DRAFT_TOKENS")
POLISH_TOKENS = env("BENCH_POLISH_TOKENS")


def _words(count: int, word: str) -> str:
    return " ".join(f"{word}{i % 10}" for i in range(count)) + "\n"


def _draft(context: StageContext) -> str:
    return _words(DRAFT_TOKENS, "draft")


def _polish(context: StageContext) -> str:
    return _words(POLISH_TOKENS, "polish")


PIPELINE = Pipeline(
    type=BENCH_TYPE,
    title="Benchmark",
    description="Two plain stages of fixed length (bench/ only).",
    job_model=REPORT.job_model,
    input_schema=REPORT.input_schema,
    prompt_dir=REPORT.prompt_dir,
    stages=(
        StageSpec("draft", "Draft", "context.txt", max_tokens=DRAFT_TOKENS, draft=_draft),
        StageSpec("polish", "Polish", "summary.txt", reads=("draft",),
                  max_tokens=POLISH_TOKENS, draft=_polish),
    ),
)


def register() -> None:
    register_pipeline(PIPELINE)
