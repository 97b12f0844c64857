"""Many concurrent streams through ONE Celery worker process (distributed mode).

For each round (1, 50, 100, 200 streams by default) every stream gets two WebSocket
watchers on Daphne, then all streams are enqueued at once. Measured: wall time from
enqueue to the last ``stream.completed`` against one stream's, the delay from a delta's
publish (``ts`` on ``stage.delta``) to a watcher, worker CPU and memory per stream,
channel-layer messages per stream, and the worker's Redis/PostgreSQL connections.

Needs Redis and PostgreSQL on 127.0.0.1 (a throwaway database is created and dropped).
Uses the bench-only two-stage pipeline (bench/pipeline.py) and the offline provider.

    .venv/bin/python bench/run_bench.py [--streams 1,50,100,200] [--rate 50] [--name NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "bench-password-not-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOKENS_PER_STREAM = 250 + 150  # bench/pipeline.py: DRAFT_TOKENS + POLISH_TOKENS


# --- processes and /proc ----------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent busy since boot (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def tcp_connections(pid: int, port: int) -> int:
    """Established TCP connections of ``pid`` to ``port`` (sockets in /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            if parts[3] == "01" and remote_port == port and parts[9] in inodes:
                count += 1
    return count


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def web_up(host: str) -> bool:
    """Whether the web process at ``host`` answers its health check."""
    try:
        with urllib.request.urlopen(f"http://{host}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


class Procs:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.children = env, logs, []

    def start(self, name: str, args: list[str],
              extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        child = subprocess.Popen([sys.executable, *args], cwd=ROOT,
                                 env={**self.env, **(extra or {})},
                                 stdout=log, stderr=subprocess.STDOUT)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()


# --- HTTP login (a real session cookie for the WebSocket handshake) ---------------
def login(host: str, username: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://{host}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
    opener.open(f"http://{host}/accounts/login/", urllib.parse.urlencode(form).encode())
    session = next((c.value for c in jar if c.name == "sessionid"), None)
    assert session, "login failed"
    return session


# --- one round ----------------------------------------------------------------------
@dataclass
class Round:
    streams: int
    pool: str = ""
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    messages: int = 0
    message_bytes: int = 0
    worker_cpu_s: float = 0.0
    web_cpu_s: float = 0.0
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    redis_conns: int = 0
    pg_conns: int = 0
    threads_peak: int = 0
    failed: int = 0
    missed_end: int = 0
    tokens_per_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)


async def watcher(host: str, session: str, stream_id: str, result: Round, first: bool,
                  connected: asyncio.Event, counter: list[int], total: int) -> float:
    from websockets.asyncio.client import connect

    async with connect(
        f"ws://{host}/ws/streams/{stream_id}/", origin=f"http://{host}",
        additional_headers={"Cookie": f"sessionid={session}"}, max_queue=None,
    ) as socket_:
        await socket_.recv()  # the snapshot
        counter[0] += 1
        if counter[0] == total:
            connected.set()
        async for raw in socket_:
            now = time.time()
            event = json.loads(raw)
            if event["type"] == "stage.delta" and "ts" in event:
                result.latencies.append(now - event["ts"])
            if first:
                result.messages += 1
                result.message_bytes += len(raw)
            if event["type"] in {"stream.completed", "stream.failed", "stream.cancelled"}:
                if event["type"] != "stream.completed" and first:
                    result.failed += 1
                return now
    raise RuntimeError(f"socket closed before {stream_id} ended")


def create_bench_streams(user: Any, count: int, title: str) -> list[str]:
    """``count`` new streams of the bench pipeline (bench/pipeline.py) owned by ``user``."""
    from reports.streams.services import create_streaming_job

    return [
        str(create_streaming_job(
            user=user, type="bench",
            input_data={"title": f"{title} {i}", "client": "Bench", "objective": "Measure."},
        )[0].pk)
        for i in range(count)
    ]


async def run_round(count: int, *, hosts: list[tuple[str, str]], user: Any, worker_pid: int,
                    web_pids: list[int], watchers: int, pool: str) -> Round:
    """One round; stream i is watched on Daphne i % len(hosts) (both its watchers)."""
    from asgiref.sync import sync_to_async

    from reports.runtime.tasks import run_stream_task

    result = Round(count, pool)
    ids = await sync_to_async(create_bench_streams)(user, count, "Bench")
    connected, counter = asyncio.Event(), [0]
    total = count * watchers
    tasks = [
        asyncio.create_task(watcher(*hosts[i % len(hosts)], sid, result, w == 0, connected,
                                    counter, total))
        for i, sid in enumerate(ids) for w in range(watchers)
    ]
    await asyncio.wait_for(connected.wait(), 120)
    result.rss_before_mb = rss_mb(worker_pid)
    cpu0, web0 = cpu_seconds(worker_pid), sum(cpu_seconds(p) for p in web_pids)
    client0, machine0 = time.process_time(), machine_busy_seconds()
    started = time.time()
    for sid in ids:  # all at once: ~0.2 ms each
        run_stream_task.delay(sid)

    async def sample() -> None:
        while True:
            result.rss_peak_mb = max(result.rss_peak_mb, rss_mb(worker_pid))
            result.threads_peak = max(result.threads_peak, thread_count(worker_pid))
            result.redis_conns = max(result.redis_conns, tcp_connections(worker_pid, 6379))
            result.pg_conns = max(result.pg_conns, tcp_connections(worker_pid, 5432))
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    done, stuck = await asyncio.wait(tasks, timeout=60 + count / 5)
    sampler.cancel()
    for task in stuck:  # a watcher that never saw its stream end (a dropped message)
        task.cancel()
    result.missed_end = len(stuck)
    ends = [t.result() for t in done if t.exception() is None]
    result.wall_s = max(ends) - started
    result.worker_cpu_s = cpu_seconds(worker_pid) - cpu0
    result.web_cpu_s = sum(cpu_seconds(p) for p in web_pids) - web0
    result.client_cpu_s = time.process_time() - client0
    result.machine_cpu_s = machine_busy_seconds() - machine0
    result.phases = await sync_to_async(phases)(ids, started)
    return result


def phases(ids: list[str], started: float) -> dict[str, tuple[float, float]]:
    """When each step happened, seconds after enqueue: (median, max) over the streams,
    from the rows the worker saved: claim, each stage's start and end, the end."""
    from reports.models import Stage, StreamingJob

    points: dict[str, list[float]] = {}

    def add(name: str, when: Any) -> None:
        if when is not None:
            points.setdefault(name, []).append(when.timestamp() - started)

    for stream in StreamingJob.objects.filter(pk__in=ids):
        add("claimed", stream.started_at)
        add("finished", stream.finished_at)
    for stage in Stage.objects.filter(stream_id__in=ids).order_by("position"):
        add(f"{stage.key} start", stage.started_at)
        add(f"{stage.key} end", stage.finished_at)
    order = sorted(points, key=lambda name: percentile(points[name], 50))
    return {name: (percentile(points[name], 50), max(points[name])) for name in order}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def table(rounds: list[Round], base_wall: dict[str, float]) -> str:
    lines = [
        "| pool | streams | wall s | x one stream | delta lag p50 ms | p99 ms | max ms "
        "| worker CPU s/stream | worker CPU ms/1k tokens | worker cores | web cores "
        "| client cores | machine cores "
        "| worker MB/stream | msgs/stream | bytes/msg | worker Redis conns "
        "| worker PG conns | worker threads |",
        "|" + "---|" * 19,
    ]
    for r in rounds:
        lines.append(
            f"| {r.pool} | {r.streams} | {r.wall_s:.2f} | {r.wall_s / base_wall[r.pool]:.3f} "
            f"| {1000 * percentile(r.latencies, 50):.0f} "
            f"| {1000 * percentile(r.latencies, 99):.0f} "
            f"| {1000 * max(r.latencies, default=float('nan')):.0f} "
            f"| {r.worker_cpu_s / r.streams:.3f} "
            f"| {1e6 * r.worker_cpu_s / (r.streams * TOKENS_PER_STREAM):.0f} "
            f"| {r.worker_cpu_s / r.wall_s:.2f} "
            f"| {r.web_cpu_s / r.wall_s:.2f} | {r.client_cpu_s / r.wall_s:.2f} "
            f"| {r.machine_cpu_s / r.wall_s:.2f} "
            f"| {(r.rss_peak_mb - r.rss_before_mb) / r.streams:.2f} "
            f"| {r.messages / r.streams:.0f} | {r.message_bytes / max(1, r.messages):.0f} "
            f"| {r.redis_conns} | {r.pg_conns} | {r.threads_peak} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", default="1,50,100,200")
    parser.add_argument("--rate", type=float, default=50.0, help="model tokens per second")
    parser.add_argument("--provider", default="offline", choices=["offline", "openai"],
                        help="openai: the SDK against bench/llm_server.py (local, one "
                             "token per chunk)")
    parser.add_argument("--watchers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=500,
                        help="worker concurrency (threads or greenlets)")
    parser.add_argument("--pools", default="gevent,threads",
                        help="Celery pools to measure, one worker each, in turn")
    parser.add_argument("--parsers", default="",
                        help="LLM_STREAM_PARSER values to measure in turn (lean,sdk), a "
                             "fresh worker each, for every pool; empty: the default")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VALUE,...",
                        help="worker settings to measure, a fresh worker each, in turn, "
                             "for every pool (repeatable; after any --parsers)")
    parser.add_argument("--web", type=int, default=1, help="Daphne processes")
    parser.add_argument("--name", default="offline-50tps")
    parser.add_argument("--extra-env", default="", help="KEY=VALUE,... for the children")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up on kill, too
    counts = [int(n) for n in args.streams.split(",")]
    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())

    import psycopg
    import redis

    tag = uuid.uuid4().hex[:8]
    database = f"rs_bench_{tag}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
    logs = ROOT / "bench" / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reportsite.settings",
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CHANNEL_LAYER_PREFIX": f"rs-bench-{tag}",
        "CELERY_QUEUE": f"rs-bench-{tag}",
        "LLM_PROVIDER": "offline",
        "OFFLINE_TOKENS_PER_SECOND": str(args.rate),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
        # One bench user owns every stream: no per-user cap on streams running at once.
        "MAX_ACTIVE_STREAMS_PER_USER": "0",
    }
    env.update(dict(item.split("=", 1) for item in args.extra_env.split(",") if "=" in item))
    procs = Procs(env, logs)
    if args.provider == "openai":
        llm_port = free_port()
        env.update(LLM_PROVIDER="openai", OPENAI_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
                   OPENAI_API_KEY="bench-not-a-secret", LLM_MODEL="bench-model")
    try:
        if args.provider == "openai":
            procs.start("llm-server", ["bench/llm_server.py", "--port", str(llm_port),
                                       "--rate", str(args.rate)])
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                       env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput",
                        "--username", "bench", "--email", "bench@example.com"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        webs = []
        for index in range(args.web):
            port = free_port()
            webs.append((procs.start(f"daphne-{index}", [
                "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "reportsite.asgi:application"]), f"127.0.0.1:{port}"))

        for _, host in webs:
            wait_until(lambda h=host: web_up(h), 30, "Daphne")  # type: ignore[misc]

        # This process: same settings, but it only creates and enqueues streams.
        os.environ.update(env)
        os.environ["STREAM_RUNNER"] = "manual"
        import django

        django.setup()
        import reportsite.celery  # noqa: F401  (binds the tasks to the configured app)
        from bench.pipeline import register

        register()
        from django.contrib.auth.models import User

        user = User.objects.get(username="bench")
        sessions = [login(host, "bench") for _, host in webs]
        rounds: list[Round] = []
        hosts = [(host, session) for (_, host), session in zip(webs, sessions, strict=True)]
        base: dict[str, float] = {}
        settings_variants = [(p, {"LLM_STREAM_PARSER": p}) for p in args.parsers.split(",") if p]
        for variant in args.variant:
            label, _, pairs = variant.partition(":")
            settings_variants.append(
                (label, dict(pair.split("=", 1) for pair in pairs.split(",") if "=" in pair))
            )
        variants = [(pool, label, extra) for pool in args.pools.split(",")
                    for label, extra in (settings_variants or [("", {})])]
        for pool_name, label, extra in variants:
            pool = f"{pool_name} {label}".strip()  # the rows' label
            worker = procs.start(f"worker-{pool_name}{label}", [
                "-m", "celery", "-A", "bench.worker_app", "worker", "--pool", pool_name,
                "-c", str(args.concurrency), "--without-mingle", "--without-gossip",
                "--loglevel", "INFO", "-n", f"bench-{pool_name}{label}-{tag}@%h"],
                extra)
            log = logs / f"worker-{pool_name}{label}.log"
            wait_until(lambda log=log: b" ready." in log.read_bytes(), 60, f"the {pool} worker")
            asyncio.run(run_round(  # warm-up, not recorded: first imports, connections
                1, hosts=hosts, user=user, worker_pid=worker.pid,
                web_pids=[p.pid for p, _ in webs], watchers=args.watchers, pool=pool,
            ))
            for count in counts:
                result = asyncio.run(run_round(
                    count, hosts=hosts, user=user,
                    worker_pid=worker.pid, web_pids=[p.pid for p, _ in webs],
                    watchers=args.watchers, pool=pool,
                ))
                rounds.append(result)
                base.setdefault(pool, result.wall_s)  # the first round (1 stream)
                print(table([result], base).splitlines()[-1],
                      f"missed ends: {result.missed_end}", flush=True)
                print("   steps (s after enqueue, median/max):", ", ".join(
                    f"{name} {p50:.2f}/{top:.2f}" for name, (p50, top) in result.phases.items()
                ), flush=True)
            worker.terminate()
            worker.wait(30)
        report = table(rounds, base)
        header = (
            f"# {args.name}\n\nOne Celery worker process at a time (`--pool <pool> -c "
            f"{args.concurrency}`),"
            f" {args.web} Daphne process(es), {args.watchers} WebSocket watchers per stream, "
            f"{args.provider} provider at {args.rate:g} tokens/s, bench pipeline (2 stages, "
            f"250 + 150 tokens), Redis channel layer, PostgreSQL; {os.cpu_count()} cores; "
            f"{time.strftime('%Y-%m-%d')}; load average before the run {load_before}, "
            f"after {' '.join(f'{v:.2f}' for v in os.getloadavg())}.\n\n"
        )
        steps = "\n".join(
            f"| {r.pool} | {r.streams} | "
            + ", ".join(f"{name} {p50:.2f} / {top:.2f}" for name, (p50, top) in r.phases.items())
            + " |"
            for r in rounds
        )
        report += (
            "\n\nWhen each step happened, seconds after enqueue (median / last stream), from "
            "the rows the worker saved:\n\n| pool | streams | steps |\n|---|---|---|\n" + steps
        )
        failed = sum(r.failed for r in rounds)
        missed = sum(r.missed_end for r in rounds)
        footer = (f"\n\nStreams not completed: {failed}. Watchers that never saw their "
                  f"stream end: {missed}.\n")
        print(report + footer)
        out = ROOT / "bench" / "results" / f"{args.name}.md"
        out.write_text(header + report + footer)
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        procs.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # type: ignore[arg-type]
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"*rs-bench-{tag}*"))
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    main()
