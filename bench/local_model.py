"""One client report written by the local model (SmolLM2-135M on llama.cpp, in process).

Beside each other, per model stage: the site's wall time (the stage's start to its end,
as the card shows it); the model's time for the same tokens, taken around llama.cpp's
generation calls (prompt evaluation, generation and sampling, where a JSON schema's
grammar runs); and llama.cpp's own clock (``llama_perf_context``, evaluation only). The
ratio site / model for the whole report has a goal of at most 1.10. Then the tokens per
second the card shows (tokens out / stage duration) beside the model's own rate
(llama.cpp's generated tokens / its generation time). In-process, on a throwaway SQLite
database, with the end-to-end test's limits (devtools/local_limits.py) unless
``--scale`` is given.

    .venv/bin/python bench/local_model.py [--threads N] [--scale 0.25] [--name local-model]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REPORT_INPUT = {
    "title": "Customer retention plan",
    "client": "Acme Ltd",
    "objective": "Reduce customer churn by 20% within a year. Start with onboarding.",
    "audience": "the board",
    "context_notes": "Churn rose from 8% to 12% after the price change in March.",
    "constraints": "No new hires this year.",
}


def run_report(model: Any) -> tuple[Any, list[Any], dict[str, list[Any]], float]:
    """Run one report; returns its stream, stages, each stage's generations, wall time."""
    from django.contrib.auth.models import User

    from reports.models import Stage
    from reports.runtime.engine import run_stream
    from reports.streams.services import create_streaming_job

    user = User.objects.create_user(f"bench-local-{User.objects.count()}")
    stream, _ = create_streaming_job(user=user, type="report", input_data=REPORT_INPUT)
    per_stage: dict[str, list[Any]] = {}
    seen = len(model.generations)
    original = model.generate

    def generate(tokens: list[int], **kwargs: Any) -> Any:
        # Which stage a generation belongs to: the one the engine has running now.
        running = Stage.objects.filter(stream=stream, status="running").values_list(
            "key", flat=True)
        key = next(iter(running), "?")
        gen = original(tokens, **kwargs)
        first = next(gen, None)  # the generation's facts exist once it has started
        per_stage.setdefault(key, []).append(model.generations[-1])
        if first is not None:
            yield first
        yield from gen

    model.generate = generate
    started = time.monotonic()
    try:
        status = run_stream(stream.pk)
    finally:
        model.generate = original
    wall = time.monotonic() - started
    if status != "completed":
        raise SystemExit(f"The report ended {status}: {stream.pk}")
    assert len(model.generations) > seen
    stream.refresh_from_db()
    return stream, list(stream.stages.in_order()), per_stage, wall


def table(stages: list[Any], per_stage: dict[str, list[Any]], wall: float) -> list[str]:
    rows = [
        "| stage | calls | tokens in / cached / out | site s | model s | llama.cpp s "
        "| site / model | card tok/s | model tok/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    site_total = model_total = perf_total = 0.0
    for stage in stages:
        generations = per_stage.get(stage.key, [])
        if not generations:
            continue
        site = stage.duration_s() or 0.0
        own = sum(g.busy_s for g in generations)
        perf = sum(g.prompt_ms + g.eval_ms for g in generations) / 1000
        gen_s = sum(g.eval_ms for g in generations) / 1000
        gen_tokens = sum(g.eval_count for g in generations)
        site_total, model_total = site_total + site, model_total + own
        perf_total += perf
        rows.append(
            f"| {stage.key} | {len(generations)} | {stage.tokens_in} / {stage.tokens_cached} / "
            f"{stage.tokens_out} | {site:.2f} | {own:.2f} | {perf:.2f} | {site / own:.2f}x "
            f"| {stage.tokens_out / site:.1f} | {gen_tokens / gen_s:.1f} |"
        )
    rows.append(f"| **all model stages** | | | {site_total:.2f} | {model_total:.2f} "
                f"| {perf_total:.2f} | **{site_total / model_total:.2f}x** | | |")
    rows.append("")
    rows.append(f"Whole report, start to end: {wall:.1f} s (assembly and saving included).")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all)")
    parser.add_argument("--scale", type=float, default=0.0,
                        help="LLM_OUTPUT_SCALE over the pipeline's own limits (0: the "
                        "end-to-end test's limits)")
    parser.add_argument("--name", default="local-model")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="rs-bench-local-")
    from devtools.local_limits import LIMITS

    os.environ.update(
        DJANGO_SETTINGS_MODULE="reportsite.settings",
        DATABASE_URL=f"sqlite:///{folder}/db.sqlite3",
        STREAM_RUNNER="manual",
        LLM_PROVIDER="local",
        LOCAL_MODEL_THREADS=str(args.threads),
        LLM_OUTPUT_LIMITS="" if args.scale else LIMITS,
        LLM_OUTPUT_SCALE=str(args.scale or 1.0),
        LLM_CONTINUATIONS="1",
        LOG_LEVEL="ERROR",
        MAX_ACTIVE_STREAMS_PER_USER="0",
        STREAMS_PER_USER_PER_MINUTE="0",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from reports.providers import get_provider

    call_command("migrate", verbosity=0)
    provider: Any = get_provider()
    model = provider.loaded()
    load = os.getloadavg()[0]
    _, stages, per_stage, wall = run_report(model)
    lines = [
        f"# Local model: one client report ({model.name})",
        "",
        f"`{' '.join(sys.argv)}` on {os.cpu_count()} cores (load average {load:.1f} at the "
        f"start), context {model.context_length} tokens, model loaded in "
        f"{model.load_seconds:.2f} s. Site s: the stage's start to its end; model s: "
        "the time inside llama.cpp's calls for the same tokens (evaluation and sampling, "
        "the grammar of JSON stages included); llama.cpp s: its own clock "
        "(llama_perf_context: prompt and token evaluation only). Card tok/s: tokens out / "
        "site s, as the card shows it; model tok/s: llama.cpp's generated tokens / its "
        "generation time.",
        "",
        *table(stages, per_stage, wall),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / f"{args.name}.md"
    out.write_text(text)
    print(f"Written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
