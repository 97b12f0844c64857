"""What prompt caching saves on a client report through the OpenAI provider.

Against a local OpenAI-speaking server (``tests/providers/llm_servers.OpenAIServer``
with ``prompt_cache=True``: usage from the sizes, a token ~ 4 characters, and as cached
the longest prefix of the prompt it has seen before under the same
``prompt_cache_key``; nothing without a key), three runs, each with caching on and with
``OPENAI_PROMPT_CACHE_KEY`` off:

1. one report, start to end;
2. a report whose ``sections`` call is refused (HTTP 401: a stage failure retrying
   cannot fix, like ``OFFLINE_FAULTS=sections:auth``), then Resume;
3. a stage retry of ``outline`` on the completed report of run 1 (it and every stage
   that reads it run again).

Tokens and dollars are what the site recorded (``StageAttempt`` rows), priced as
``LLM_PRICING`` prices ``--model`` (gpt-4.1-mini: $0.40 input, $0.10 cached input,
$1.60 output per million). In-process, on a throwaway SQLite database.

    .venv/bin/python bench/caching.py [--model gpt-4.1-mini] [--name caching]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
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
_NOTE = ("Churn rose from 8% to 12% after the price change in March; most of it is in the "
         "first ninety days, among customers who never finished onboarding. ")
# The limits allow 4,000 characters in each of these: near them, every prompt is over
# the 1,024 tokens OpenAI caches from.
LONG_INPUT = {**REPORT_INPUT, "objective": (REPORT_INPUT["objective"] + " ") * 50,
              "context_notes": _NOTE * 24, "constraints": ("No new hires this year. " * 160)}
LONG_INPUT = {key: value[:3990].strip() for key, value in LONG_INPUT.items()}


@dataclass
class Totals:
    calls: int = 0
    tokens_in: int = 0
    cached: int = 0
    out: int = 0
    cost: Decimal = Decimal(0)
    saved: Decimal = Decimal(0)

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.calls + other.calls, self.tokens_in + other.tokens_in,
                      self.cached + other.cached, self.out + other.out,
                      self.cost + other.cost, self.saved + other.saved)


def attempts_since(stream_id: Any, after: int) -> tuple[Totals, int]:
    """The attempts of ``stream_id`` with a primary key over ``after``, summed."""
    from reports.models import StageAttempt

    totals, last = Totals(), after
    for attempt in StageAttempt.objects.filter(stage__stream_id=stream_id, pk__gt=after):
        last = max(last, attempt.pk)
        if not attempt.tokens_in and not attempt.tokens_out:
            continue  # a refused call (no usage) or a stage that calls no model
        totals += Totals(1, attempt.tokens_in, attempt.tokens_cached, attempt.tokens_out,
                         attempt.cost_usd or Decimal(0))
    return totals, last


def run_scenarios(server: Any, user: Any, model: str, brief: dict[str, str]
                  ) -> dict[str, Totals]:
    from devtools.llm_servers import Reply
    from reports.models import StreamStatus
    from reports.providers import Usage, pricing
    from reports.runtime.engine import run_stream
    from reports.streams.services import create_streaming_job, resume_job, retry_stage

    results: dict[str, Totals] = {}

    def priced(totals: Totals) -> Totals:
        usage = Usage(totals.tokens_in, totals.out, tokens_cached=totals.cached)
        totals.saved = pricing.cache_saving(model, usage)
        return totals

    # 1. One report.
    stream, _ = create_streaming_job(user=user, type="report", input_data=brief)
    assert run_stream(stream.pk) == StreamStatus.COMPLETED
    results["one report"], last = attempts_since(stream.pk, 0)

    # 2. A failed stage (the 4th model call, sections, refused), then Resume.
    failing, _ = create_streaming_job(
        user=user, type="report", input_data={**brief, "title": "Retention, again"})
    server.plan.extend([Reply(), Reply(), Reply(), Reply(
        kind="status", status=401, body='{"error": {"message": "bad key (bench)"}}')])
    assert run_stream(failing.pk) == StreamStatus.FAILED
    resumed = resume_job(stream_id=failing.pk, user=user)
    assert run_stream(resumed.pk) == StreamStatus.COMPLETED
    results["failed stage + Resume"], _ = attempts_since(failing.pk, 0)
    if resumed.pk != failing.pk:
        extra, _ = attempts_since(resumed.pk, 0)
        results["failed stage + Resume"] += extra

    # 3. A stage retry on the report of run 1.
    retried = retry_stage(stream_id=stream.pk, key="outline", user=user)
    assert run_stream(retried.pk) == StreamStatus.COMPLETED
    results["retry of outline"], _ = attempts_since(retried.pk, last if retried.pk == stream.pk
                                                    else 0)
    return {name: priced(totals) for name, totals in results.items()}


def measure(model: str, cache_key: bool, openai_rules: bool, brief: dict[str, str]
            ) -> dict[str, Totals]:
    from django.contrib.auth.models import User
    from django.test import override_settings

    from devtools.llm_servers import OpenAIServer
    from reports.providers.registry import reset_cache

    server = OpenAIServer(prompt_cache=True, openai_cache_rules=openai_rules).start()
    try:
        with override_settings(OPENAI_BASE_URL=server.base_url,
                               OPENAI_PROMPT_CACHE_KEY=cache_key):
            reset_cache()
            user = User.objects.create_user(f"bench-{User.objects.count()}")
            return run_scenarios(server, user, model, brief)
    finally:
        server.stop()
        reset_cache()


CONFIGURATIONS = [
    ("the prefix rule, the tests' brief", False, REPORT_INPUT),
    ("OpenAI's rule (nothing under 1,024 tokens, then 128-token steps), the tests' brief",
     True, REPORT_INPUT),
    ("OpenAI's rule, a long brief (objective, context notes and constraints near their "
     "4,000-character limits)", True, LONG_INPUT),
]


def dollars(value: Decimal) -> str:
    return f"${value:.6f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gpt-4.1-mini",
                        help="a model LLM_PRICING prices with a cached-input rate")
    parser.add_argument("--name", default="caching")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="rs-bench-caching-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reportsite.settings",
        DATABASE_URL=f"sqlite:///{folder}/db.sqlite3",
        STREAM_RUNNER="manual",
        LLM_PROVIDER="openai",
        OPENAI_API_KEY="sk-bench-caching-not-a-secret",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",  # replaced by each run's server
        LLM_MODEL=args.model,
        LOG_LEVEL="ERROR",
        MAX_ACTIVE_STREAMS_PER_USER="0",
        STREAMS_PER_USER_PER_MINUTE="0",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from reports.providers import pricing

    call_command("migrate", verbosity=0)
    rates = pricing.rates_for(args.model)
    if rates is None or rates.cached >= rates.input:
        raise SystemExit(f"LLM_PRICING has no cached-input rate for {args.model!r}")
    price = (f"${rates.input} input, ${rates.cached} cached input, ${rates.output} output "
             "per million tokens")
    sections, summary = [], []
    for title, openai_rules, brief in CONFIGURATIONS:
        on = measure(args.model, True, openai_rules, brief)
        off = measure(args.model, False, openai_rules, brief)
        rows = [
            "| run | cache key | model calls | tokens in | cached | out | cost "
            "| saved by caching |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name in on:
            for label, totals in (("on", on[name]), ("off", off[name])):
                rows.append(
                    f"| {name} | {label} | {totals.calls} | {totals.tokens_in:,} "
                    f"| {totals.cached:,} ({totals.cached / max(1, totals.tokens_in):.0%}) "
                    f"| {totals.out:,} | {dollars(totals.cost)} | {dollars(totals.saved)} |")
        total_on, total_off = sum(on.values(), Totals()), sum(off.values(), Totals())
        ratios = "\n".join(
            f"- {name}: {dollars(on[name].cost)} with the key, {dollars(off[name].cost)} "
            f"without, {1 - on[name].cost / off[name].cost:.1%} less" for name in on)
        line = (f"{dollars(total_on.cost)} with the key, {dollars(total_off.cost)} without "
                f"({1 - total_on.cost / total_off.cost:.1%} less; {total_on.cached:,} of "
                f"{total_on.tokens_in:,} input tokens cached)")
        summary.append(f"- {title}: {line}")
        sections.append(f"## {title}\n\n" + "\n".join(rows)
                        + f"\n\nAll three runs: {line}.\n\n{ratios}\n")
    report = (
        f"# {args.name}\n\n"
        f"`make bench-caching` (`bench/caching.py`), {time.strftime('%Y-%m-%d')}: a client "
        f"report (6 model stages) through the OpenAI provider (the lean streaming path) "
        f"against a local server that reports as cached the longest prompt prefix it has "
        f"seen before under the same `prompt_cache_key` (a token ~ 4 characters; without a "
        f"key nothing is cached), priced as `{args.model}` (LLM_PRICING: {price}). Runs: one "
        f"report; a report whose `sections` call is refused (HTTP 401) and then resumed "
        f"(the attempts of both); a retry of `outline` on the first report (outline and the "
        f"3 stages after it).\n\n" + "\n".join(summary) + "\n\n" + "\n".join(sections)
    )
    print(report)
    out = ROOT / "bench" / "results" / f"{args.name}.md"
    out.write_text(report)
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
