"""How true "Remaining" is: the estimate against the time each run really had left.

Runs ``--runs`` client reports one after another through the engine (in-process, the
offline model at ``--rate`` tokens/s, a throwaway SQLite database, the history cache
off), and every ``--every`` seconds asks the ETA what the card would show. After each
run the error of every sample taken between 10% and 90% of the run is
``|estimate - actual remaining| / actual remaining``. The first run has no history:
it reports how much of it said "estimating…" and, where it gave a number, that
number's error; the later runs have the earlier ones as history.

"before" is the estimate as it was before issue 31 for the samples that now say
"estimating…" (weights at the default pace of 2 s per unit); with evidence the two are
the same.

    .venv/bin/python bench/eta.py [--runs 10] [--rate 90] [--name eta]   (make bench-eta)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class Run:
    seconds: float = 0.0
    # (time since start, estimate now or None, estimate before issue 31 or None)
    samples: list[tuple[float, float | None, float | None]] = field(default_factory=list)

    def errors(self, before: bool = False, window: tuple[float, float] = (0.1, 0.9)) -> list[float]:
        """Relative errors of the samples in ``window`` (shares of the run)."""
        found = []
        for at, now, old in self.samples:
            value = old if before else now
            left = self.seconds - at
            if value is None or not self._inside(at, window) or left <= 0:
                continue
            found.append(abs(value - left) / left)
        return found

    def estimating_share(self, window: tuple[float, float] = (0.1, 0.9)) -> float:
        inside = [s for s in self.samples if self._inside(s[0], window)]
        return sum(1 for s in inside if s[1] is None) / max(len(inside), 1)

    def _inside(self, at: float, window: tuple[float, float]) -> bool:
        return window[0] * self.seconds <= at <= window[1] * self.seconds


def old_estimate(stream, stages, estimate) -> float | None:  # type: ignore[no-untyped-def]
    """What the card said before issue 31 where it now says "estimating…": the same
    chain, every stage at weights times the default pace."""
    from django.utils import timezone

    from reports.models import StageStatus
    from reports.streams import eta

    if not estimate.estimating:
        return estimate.eta_seconds
    now = timezone.now()
    left = {}
    for stage in stages:
        expected = estimate.expected[stage.key]
        if stage.status in eta.DONE:
            left[stage.key] = 0.0
        elif stage.status == StageStatus.RUNNING and stage.started_at is not None:
            elapsed = (now - stage.started_at).total_seconds()
            left[stage.key] = max(expected - elapsed, eta.OVERRUN_SHARE * expected)
        else:
            left[stage.key] = expected
    return eta._longest_chain(stages, left)


def one_run(user, every: float) -> Run:  # type: ignore[no-untyped-def]
    from reports.models import StreamingJob
    from reports.runtime.engine import run_stream
    from reports.streams import eta
    from reports.streams.services import create_streaming_job

    stream, _ = create_streaming_job(user=user, type="report", input_data=REPORT_INPUT)
    run = Run()
    started = time.monotonic()
    worker = threading.Thread(target=run_stream, args=(stream.pk,))
    worker.start()
    while worker.is_alive():
        fresh = StreamingJob.objects.get(pk=stream.pk)
        stages = list(fresh.stages.in_order())
        if fresh.is_generating:
            found = eta.estimate(fresh, stages)
            run.samples.append((time.monotonic() - started, found.eta_seconds,
                                old_estimate(fresh, stages, found)))
        worker.join(every)
    run.seconds = time.monotonic() - started
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rate", default="90", help="offline model tokens per second")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--name", default="eta")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="rs-bench-eta-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reportsite.settings",
        DATABASE_URL=f"sqlite:///{folder}/db.sqlite3",
        STREAM_RUNNER="manual",
        LLM_PROVIDER="offline",
        OFFLINE_TOKENS_PER_SECOND=args.rate,
        ETA_HISTORY_CACHE_SECONDS="0",
        LOG_LEVEL="ERROR",
        MAX_ACTIVE_STREAMS_PER_USER="0",
        STREAMS_PER_USER_PER_MINUTE="0",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench-eta", password="not-a-secret-42")
    runs = [one_run(user, args.every) for _ in range(args.runs)]

    def median(values: list[float]) -> str:
        return f"{statistics.median(values) * 100:.0f}%" if values else "-"

    lines = [
        f"# ETA: estimate against the time really left ({args.runs} client reports, offline "
        f"model at {args.rate} tokens/s, a sample every {args.every} s)",
        "",
        "Median of |estimate - actual remaining| / actual remaining over each run's samples "
        "between 10% and 90% of it. *estimating*: the share of those samples that said "
        '"estimating…" (no number).',
        "",
        "The last two columns are the first 10% of the run, which the goal leaves out: "
        "what the card says there, and what it said before issue 31.",
        "",
        "| run | history | seconds | samples | estimating | median error | before issue 31 "
        "| 0-10%: estimating | 0-10%: before |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    start = (0.0, 0.1)
    for number, run in enumerate(runs, start=1):
        lines.append(
            f"| {number} | {number - 1} runs | {run.seconds:.1f} | {len(run.errors())} "
            f"| {run.estimating_share() * 100:.0f}% | {median(run.errors())} "
            f"| {median(run.errors(before=True))} "
            f"| {run.estimating_share(start) * 100:.0f}% "
            f"| {median(run.errors(before=True, window=start))} |"
        )
    later = [e for run in runs[1:] for e in run.errors()]
    lines += [
        "",
        f"With history (runs 2-{args.runs}): median error {median(later)} "
        "(the goal: at most 25%).",
        f"Without history (run 1): {runs[0].estimating_share() * 100:.0f}% of the samples said "
        f'"estimating…"; where it gave a number the median error was '
        f"{median(runs[0].errors())} (the goal: no number, or within 50%); before issue 31 "
        f"the median error was {median(runs[0].errors(before=True))}.",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    out = ROOT / "bench" / "results" / f"{args.name}.md"
    out.write_text(table)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
