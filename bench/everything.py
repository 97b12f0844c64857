"""Everything together: CPU per 1,000 streamed tokens of one embedded server.

One Daphne process is the whole site as ``make run`` serves it (web and in-process
runner, in-memory channel layer, SQLite), its provider the real OpenAI SDK against
bench/llm_server.py unpaced (as fast as the server writes, one token per chunk).
``--streams`` streams of ``--tokens`` tokens (bench/pipeline.py, two stages) start at
once, each watched by one JSON WebSocket client. Measured: the server process's CPU
(/proc: every thread, web and runner) per 1,000 tokens the stages saved, beside the
floor, the CPU of only parsing the same SSE bytes (bench/providers.py's raw loop, in
this process). Each ``--variant`` is a fresh server with those settings, in turn.

    .venv/bin/python bench/everything.py [--streams 20] [--tokens 1500] [--rounds 3]
        [--variant LABEL:KEY=VALUE,...] [--name NAME]

Prints a Markdown table and writes it to bench/results/<name>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run_bench import (  # noqa: E402
    PASSWORD,
    Procs,
    cpu_seconds,
    create_bench_streams,
    free_port,
    login,
)
from bench.watchers import post, start_webs  # noqa: E402

DEFAULT_VARIANTS = [
    "lean:LLM_STREAM_PARSER=lean",
    "lean-unpaced:LLM_STREAM_PARSER=lean,LLM_READ_INTERVAL_SECONDS=0",
    "sdk:LLM_STREAM_PARSER=sdk",
]


async def watch(host: str, session: str, stream_id: str) -> int:
    """One JSON watcher until its stream ends; returns the messages it received."""
    from websockets.asyncio.client import connect

    received = 0
    async with connect(
        f"ws://{host}/ws/streams/{stream_id}/", origin=f"http://{host}",
        additional_headers={"Cookie": f"sessionid={session}"}, max_queue=None,
    ) as socket_:
        async for raw in socket_:
            received += 1
            if json.loads(raw)["type"] in {"stream.completed", "stream.failed",
                                           "stream.cancelled"}:
                return received
    raise RuntimeError(f"socket closed before {stream_id} ended")


def saved_tokens(ids: list[str]) -> tuple[int, int]:
    """(tokens out the stages saved, streams completed)."""
    from django.db.models import Sum

    from reports.models import Stage, StreamingJob, StreamStatus

    tokens = Stage.objects.filter(stream_id__in=ids).aggregate(n=Sum("tokens_out"))["n"] or 0
    completed = StreamingJob.objects.filter(pk__in=ids, status=StreamStatus.COMPLETED).count()
    return int(tokens), completed


async def one_round(host: str, session: str, pid: int, user: Any, streams: int) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    ids = await sync_to_async(create_bench_streams)(user, streams, "Everything")
    watchers = [asyncio.create_task(watch(host, session, sid)) for sid in ids]
    await asyncio.sleep(1.0)  # every handshake and snapshot done before the clock starts
    cpu0, started = cpu_seconds(pid), time.monotonic()
    await asyncio.to_thread(post, host, "/bench/enqueue/", "\n".join(ids).encode())
    messages = await asyncio.wait_for(asyncio.gather(*watchers), 300)
    wall, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu0
    tokens, completed = await sync_to_async(saved_tokens)(ids)
    return {"wall_s": wall, "cpu_s": cpu, "tokens": tokens, "completed": completed,
            "messages": statistics.median(messages)}


def floor_ms(tokens: int) -> float:
    """CPU ms per 1,000 tokens of only parsing the SSE bytes (the providers' floor)."""
    from bench.providers import cpu_per_1000, raw_loop, start_server

    process, port = start_server("openai")
    try:
        return cpu_per_1000(raw_loop("openai", port, tokens, parse=True), tokens, 5)
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=1500, help="tokens per stream")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant")
    parser.add_argument("--variant", action="append", default=[],
                        metavar="LABEL:KEY=VALUE,...",
                        help=f"server settings to measure (default: {DEFAULT_VARIANTS})")
    parser.add_argument("--name", default="everything")
    args = parser.parse_args()
    draft = args.tokens * 3 // 5
    workdir = Path(tempfile.mkdtemp(prefix="rs-everything-"))
    llm_port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reportsite.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "REDIS_URL": "",  # the embedded default: in-memory layer, in-process runner
        "LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "OPENAI_API_KEY": "bench-not-a-secret",
        "LLM_MODEL": "bench-model",
        "BENCH_DRAFT_TOKENS": str(draft),
        "BENCH_POLISH_TOKENS": str(args.tokens - draft),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
        "MAX_ACTIVE_STREAMS_PER_USER": "0",
        "STREAMS_PER_USER_PER_MINUTE": "0",
    }
    procs = Procs(env, workdir)
    rows: list[tuple[str, list[dict[str, Any]]]] = []
    try:
        procs.start("llm-server", ["bench/llm_server.py", "--port", str(llm_port),
                                   "--rate", "1000000"])
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                       env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput",
                        "--username", "bench", "--email", "bench@example.com"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        os.environ.update(env, STREAM_RUNNER="manual")  # this process only creates streams
        import django

        django.setup()
        from django.contrib.auth.models import User

        from bench.pipeline import register

        register()
        user = User.objects.get(username="bench")
        floor = floor_ms(args.tokens)
        for variant in args.variant or DEFAULT_VARIANTS:
            label, _, pairs = variant.partition(":")
            procs.env = {**env, **dict(p.split("=", 1) for p in pairs.split(",") if "=" in p)}
            [(web, host)] = start_webs(procs, 1, label)
            session = login(host, "bench")
            asyncio.run(one_round(host, session, web.pid, user, 2))  # warm-up: imports
            measured = [asyncio.run(one_round(host, session, web.pid, user, args.streams))
                        for _ in range(args.rounds)]
            rows.append((label, measured))
            per_1000 = [r["cpu_s"] * 1e6 / r["tokens"] for r in measured]
            print(f"{label}: {', '.join(f'{v:.0f}' for v in per_1000)} ms per 1,000 tokens",
                  flush=True)
            web.terminate()
            web.wait(30)
    finally:
        procs.stop()
    report = table(args, rows, floor)
    print(report)
    out = ROOT / "bench" / "results" / f"{args.name}.md"
    out.write_text(report)
    print(f"written to {out.relative_to(ROOT)}")


def table(args: argparse.Namespace, rows: list[tuple[str, list[dict[str, Any]]]],
          floor: float) -> str:
    lines = [
        f"# {args.name}",
        "",
        f"One embedded server (Daphne: web + in-process runner, in-memory layer, SQLite), "
        f"the OpenAI SDK against bench/llm_server.py unpaced; {args.streams} streams of "
        f"{args.tokens:,} tokens at once, one JSON WebSocket watcher each; the median of "
        f"{args.rounds} rounds per variant (after a warm-up); {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Floor (parsing the same SSE bytes with orjson, nothing else): {floor:.1f} ms "
        "per 1,000 tokens.",
        "",
        "| variant | server CPU ms / 1,000 tokens (median) | rounds | x floor | wall s | "
        "messages per watcher | streams completed |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for label, measured in rows:
        per_1000 = [r["cpu_s"] * 1e6 / r["tokens"] for r in measured]
        median = statistics.median(per_1000)
        lines.append(
            f"| {label} | {median:.0f} | {' / '.join(f'{v:.0f}' for v in per_1000)} | "
            f"{median / floor:.1f} | {statistics.median(r['wall_s'] for r in measured):.2f} | "
            f"{statistics.median(r['messages'] for r in measured):.0f} | "
            f"{min(r['completed'] for r in measured)} of {args.streams} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
