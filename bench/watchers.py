"""Many watchers of many streams on one (or two) web processes: push against polling.

N streams at 50 tokens/s (offline model, bench/pipeline.py: 250 + 150 tokens), W
watchers each, in these scenarios, one after the other:

- distributed (Daphne + one Celery worker as the Procfile runs it, Redis db 7, a fresh
  PostgreSQL database): WebSocket watchers on one Daphne; the same number of pollers
  of ``GET /api/streams/{id}/`` every 500 ms; WebSocket watchers split over two Daphnes;
- embedded (one Daphne, in-process runner, in-memory layer, same PostgreSQL database):
  WebSocket watchers, then pollers.

Every client is authenticated with a session cookie from a real login (``--auth
token``: an API bearer token instead). Watchers connect (50 handshakes at a time)
before the streams start; a second round of streams then drops every socket at once
mid-stream and reconnects it (a burst), to count refused handshakes and missed ends.

Measured, per web process: token-to-watcher latency (a ``stage.delta``'s arrival
against its ``ts``, stamped when it was published), boundary staleness for both kinds
of client (when a watcher first learnt that a stage started or finished, or the stream
ended, against the time the runner saved it in the database), web CPU seconds (from
/proc), memory per socket (RSS growth while idle sockets connected), Redis commands per
stream (MONITOR on db 7 while the streams ran), missed ends and refused handshakes.

    .venv/bin/python bench/watchers.py [--streams 100] [--watchers 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run_bench import (  # noqa: E402  (the shared /proc and process helpers)
    PASSWORD,
    PG_ADMIN_URL,
    Procs,
    cpu_seconds,
    create_bench_streams,
    free_port,
    login,
    machine_busy_seconds,
    percentile,
    rss_mb,
    wait_until,
    web_up,
)

REDIS_DB = 7
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
POLL_INTERVAL = 0.5
CONNECT_AT_ONCE = 50  # the ramp: handshakes in flight while the watchers connect
SCENARIOS = ["dist-ws", "dist-poll", "dist-ws2", "dist-burst", "emb-ws", "emb-poll",
             "emb-burst"]
RETRY_CAP_S = 8.0  # reconnect backoff: full jitter, doubling from 0.5 s up to this
FINAL_STATUSES = {"completed", "failed", "cancelled"}
FINAL_EVENTS = {"stream.completed", "stream.failed", "stream.cancelled"}


# --- what the clients record ----------------------------------------------------------
@dataclass
class Client:
    """One watcher (a WebSocket or a poller) of one stream, on one web process."""

    stream_id: str
    web: int
    connected_at: float = 0.0  # when its first snapshot arrived (epoch seconds)
    connect_s: float = 0.0  # how long the (first) handshake took
    refused: int = 0  # handshakes or polls that failed (retried)
    ended: bool = False
    # When it first learnt of each change: ("draft", "started") -> epoch seconds.
    seen: dict[tuple[str, str], float] = field(default_factory=dict)
    delta_lags: list[float] = field(default_factory=list)
    messages: int = 0
    reconnect_s: float | None = None  # burst rounds: drop to the next snapshot
    # For each change it learnt of: when it learnt it minus when the runner saved it.
    staleness: list[float] = field(default_factory=list)
    staleness_by_change: dict[str, list[float]] = field(default_factory=dict)


def auth_headers(auth: tuple[str, str]) -> dict[str, str]:
    kind, value = auth
    return {"Cookie": f"sessionid={value}"} if kind == "session" else {
        "Authorization": f"Bearer {value}"}


async def ws_client(client: Client, host: str, auth: tuple[str, str],
                    gate: asyncio.Semaphore | None, burst: asyncio.Event | None) -> None:
    """Watch one stream over /ws/streams/<id>/ until it ends (reconnecting at a burst)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    kwargs: dict[str, Any] = {"origin": f"http://{host}", "max_queue": None,
                              "open_timeout": 30, "ping_interval": None}
    if auth[0] == "session":
        kwargs["additional_headers"] = auth_headers(auth)
    else:
        kwargs["subprotocols"] = ["bearer", auth[1]]
    url = f"ws://{host}/ws/streams/{client.stream_id}/"
    dropped_at: float | None = None
    while True:
        socket_ = None
        attempt = 0
        while socket_ is None:  # until it connects (or the round gives up on it)
            began = time.time()
            try:
                if gate is not None and dropped_at is None:
                    async with gate:
                        socket_ = await connect(url, **kwargs)
                        snapshot = json.loads(await socket_.recv())
                else:
                    socket_ = await connect(url, **kwargs)
                    snapshot = json.loads(await socket_.recv())
                break
            except Exception:  # refused, timed out, reset: count it and try again
                client.refused += 1
                socket_ = None
                attempt += 1
                await asyncio.sleep(random.uniform(0, min(RETRY_CAP_S, 0.5 * 2**attempt)))
        now = time.time()
        if dropped_at is None:
            client.connected_at, client.connect_s = now, now - began
        else:
            client.reconnect_s = now - dropped_at
        seen_in_snapshot(client, snapshot["stream"], now)
        if snapshot["stream"]["status"] in FINAL_STATUSES:
            client.ended = True
            await socket_.close()
            return
        watch_burst = (asyncio.ensure_future(burst.wait())
                       if burst is not None and dropped_at is None else None)
        try:
            while True:
                receive = asyncio.ensure_future(socket_.recv())
                waiting = {receive} | ({watch_burst} if watch_burst else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:  # the burst: drop the connection, as a network would
                    receive.cancel()
                    dropped_at = time.time()
                    socket_.transport.abort()
                    break
                raw = receive.result()
                now = time.time()
                client.messages += 1
                event = json.loads(raw)
                kind = event["type"]
                if kind == "stage.delta":
                    if "ts" in event:
                        client.delta_lags.append(now - event["ts"])
                elif kind == "stage.started":
                    client.seen.setdefault((event["stage"], "started"), now)
                elif kind == "stage.completed":
                    client.seen.setdefault((event["stage"], "completed"), now)
                elif kind == "snapshot":
                    seen_in_snapshot(client, event["stream"], now)
                if kind in FINAL_EVENTS or (
                        kind == "snapshot" and event["stream"]["status"] in FINAL_STATUSES):
                    client.seen.setdefault(("stream", "finished"), now)
                    client.ended = True
                    await socket_.close()
                    return
        except ConnectionClosed:
            dropped_at = time.time()  # the server closed it: reconnect like a client would
        finally:
            if watch_burst is not None:
                watch_burst.cancel()


def seen_in_snapshot(client: Client, stream: dict[str, Any], now: float) -> None:
    """Note the changes a snapshot (WebSocket or GET) shows for the first time."""
    for stage in stream["stages"]:
        if stage["status"] != "pending":
            client.seen.setdefault((stage["key"], "started"), now)
        if stage["status"] == "completed":
            client.seen.setdefault((stage["key"], "completed"), now)
    if stream["status"] in FINAL_STATUSES:
        client.seen.setdefault(("stream", "finished"), now)


async def http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes) -> tuple[int, bytes]:
    """One keep-alive GET: (status, body); Content-Length or chunked."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def poll_client(client: Client, host: str, auth: tuple[str, str],
                      gate: asyncio.Semaphore, deadline: list[float]) -> None:
    """GET /api/streams/<id>/ every POLL_INTERVAL (never two at once) until it ends."""
    address, port = host.rsplit(":", 1)
    headers = "".join(f"{k}: {v}\r\n" for k, v in auth_headers(auth).items())
    request = (f"GET /api/streams/{client.stream_id}/ HTTP/1.1\r\nHost: {host}\r\n"
               f"Accept: application/json\r\n{headers}\r\n").encode()
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    next_at = 0.0
    first = True
    while time.time() < deadline[0]:
        try:
            if connection is None:
                connection = await asyncio.open_connection(address, int(port))
            began = time.time()
            if first:
                async with gate:
                    status, body = await http_get(*connection, request)
            else:
                status, body = await http_get(*connection, request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            client.refused += 1
            connection = None
            await asyncio.sleep(0.5)
            continue
        now = time.time()
        if status != 200:
            client.refused += 1
            await asyncio.sleep(0.5)
            continue
        client.messages += 1
        if first:
            first = False
            client.connected_at, client.connect_s = now, now - began
            # Pollers start at random phases, as independent clients would.
            next_at = now + random.uniform(0, POLL_INTERVAL)
        else:
            next_at = max(next_at + POLL_INTERVAL, now)
        stream = json.loads(body)
        seen_in_snapshot(client, stream, now)
        if stream["status"] in FINAL_STATUSES:
            client.ended = True
            break
        await asyncio.sleep(max(0.0, next_at - time.time()))
    if connection is not None:
        connection[1].close()


# --- a round ----------------------------------------------------------------------------
@dataclass
class Round:
    scenario: str
    kind: str  # "ws" | "poll"
    webs: int
    clients: list[Client]
    wall_s: float = 0.0
    connect_wall_s: float = 0.0
    web_cpu_s: list[float] = field(default_factory=list)
    connect_cpu_s: list[float] = field(default_factory=list)
    rss_delta_mb: list[float] = field(default_factory=list)
    redis: Counter[str] = field(default_factory=Counter)
    streams: int = 0
    machine_cores: float = 0.0
    client_cores: float = 0.0
    worker_cpu_s: float = 0.0
    burst: bool = False
    load: float = 0.0  # the machine's 1-minute load average when the streams started
    # Per web process: whether it held this many clients before (its RSS growth then
    # shows memory freed by the earlier round and reused, not what sockets cost).
    rss_reused: list[bool] = field(default_factory=list)


class RedisMonitor:
    """Counts commands on REDIS_DB (and in scripts run there) while it runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.child = subprocess.Popen(
            ["sh", "-c", f"exec redis-cli -h 127.0.0.1 -p 6379 monitor | "
                         f"grep --line-buffered -F ' [{REDIS_DB} ' > {self.path}"],
            start_new_session=True)
        time.sleep(0.3)

    def stop(self) -> Counter[str]:
        assert self.child is not None
        time.sleep(0.3)
        os.killpg(self.child.pid, signal.SIGTERM)
        self.child.wait(10)
        counts: Counter[str] = Counter()
        for line in self.path.read_text(errors="replace").splitlines():
            parts = line.split("] ", 1)
            if len(parts) == 2 and parts[1].startswith('"'):
                name = parts[1].split('"', 2)[1].lower()
                counts[("lua " if parts[0].endswith(" lua") else "") + name] += 1
        self.path.unlink(missing_ok=True)
        return counts


@dataclass
class Target:
    """Where a round's clients connect, and how its streams are started."""

    hosts: list[tuple[str, tuple[str, str]]]  # (host:port, credentials) per web process
    web_pids: list[int]
    worker_pid: int | None
    start: Callable[[list[str]], Awaitable[None]]


class Bench:
    def __init__(self, args: argparse.Namespace, user: Any, logs: Path) -> None:
        self.args, self.user, self.logs = args, user, logs
        self.peak_clients: dict[int, int] = {}  # web pid -> most clients it has held
        self.created: list[str] = []  # every stream id, to remove their SSE logs after

    def create_streams(self, count: int) -> list[str]:
        ids = create_bench_streams(self.user, count, "Watch")
        self.created += ids
        return ids

    def boundary_times(self, ids: list[str]) -> dict[tuple[str, str, str], float]:
        """When the runner saved each change, by (stream, stage or "stream", change)."""
        from reports.models import Stage, StreamingJob

        times: dict[tuple[str, str, str], float] = {}
        for stream in StreamingJob.objects.filter(pk__in=ids):
            if stream.finished_at:
                times[(str(stream.pk), "stream", "finished")] = stream.finished_at.timestamp()
        for stage in Stage.objects.filter(stream_id__in=ids):
            sid = str(stage.stream_id)
            if stage.started_at:
                times[(sid, stage.key, "started")] = stage.started_at.timestamp()
            if stage.finished_at:
                times[(sid, stage.key, "completed")] = stage.finished_at.timestamp()
        return times

    def run(self, scenario: str, target: Target, *, kind: str, burst: bool = False,
            streams: int | None = None, watchers: int | None = None) -> Round:
        """One round: connect every client, start the streams, wait for every end."""
        ids = self.create_streams(streams or self.args.streams)
        per_stream = watchers or self.args.watchers
        webs = len(target.hosts)
        clients = [Client(sid, w % webs) for sid in ids for w in range(per_stream)]
        result = Round(scenario, kind, webs, clients, streams=len(ids), burst=burst)
        monitor = RedisMonitor(self.logs / "monitor.log")
        for web, pid in enumerate(target.web_pids):
            here = sum(c.web == web for c in clients)
            result.rss_reused.append(self.peak_clients.get(pid, 0) >= here)
            self.peak_clients[pid] = max(self.peak_clients.get(pid, 0), here)
        asyncio.run(self._round(result, ids, target, monitor))
        times = self.boundary_times(ids)
        for client in clients:
            for (stage, change), when in client.seen.items():
                saved = times.get((client.stream_id, stage, change))
                if saved is not None:
                    client.staleness.append(when - saved)
                    name = "stream end" if stage == "stream" else f"{stage} {change}"
                    client.staleness_by_change.setdefault(name, []).append(when - saved)
        return result

    async def _round(self, result: Round, ids: list[str], target: Target,
                     monitor: RedisMonitor) -> None:
        hosts, web_pids, worker_pid = target.hosts, target.web_pids, target.worker_pid
        rss0 = [rss_mb(pid) for pid in web_pids]
        cpu_connect0 = [cpu_seconds(pid) for pid in web_pids]
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        burst_event = asyncio.Event() if result.burst else None
        deadline = [time.time() + 3600.0]
        connect_started = time.time()
        if result.kind == "ws":
            tasks = [asyncio.create_task(ws_client(c, hosts[c.web][0], hosts[c.web][1], gate,
                                                   burst_event)) for c in result.clients]
        else:
            tasks = [asyncio.create_task(poll_client(c, hosts[c.web][0], hosts[c.web][1], gate,
                                                     deadline)) for c in result.clients]
        limit = time.time() + 300
        while time.time() < limit and not all(c.connected_at or t.done()
                                              for c, t in zip(result.clients, tasks, strict=True)):
            await asyncio.sleep(0.1)
        result.connect_wall_s = time.time() - connect_started
        await asyncio.sleep(1.0)  # idle: what the sockets themselves hold
        result.rss_delta_mb = [rss_mb(pid) - before for pid, before in zip(web_pids, rss0,
                                                                            strict=True)]
        result.connect_cpu_s = [cpu_seconds(pid) - before
                                for pid, before in zip(web_pids, cpu_connect0, strict=True)]
        if not result.burst:
            monitor.start()
        cpu0 = [cpu_seconds(pid) for pid in web_pids]
        worker0 = cpu_seconds(worker_pid) if worker_pid else 0.0
        client0, machine0 = time.process_time(), machine_busy_seconds()
        result.load = os.getloadavg()[0]
        for client in result.clients:
            client.messages = 0  # count what the measured window carried
        started = time.time()
        await target.start(ids)
        if burst_event is not None:
            await asyncio.sleep(self.args.burst_at)
            burst_event.set()
        deadline[0] = started + 60 + 4 * len(ids) / 10
        remaining = max(1.0, deadline[0] - time.time())
        done, stuck = await asyncio.wait(tasks, timeout=remaining)
        for task in stuck:
            task.cancel()
        ends = [max(c.seen.values()) for c in result.clients if c.ended and c.seen]
        result.wall_s = (max(ends) if ends else time.time()) - started
        result.web_cpu_s = [cpu_seconds(pid) - before for pid, before in zip(web_pids, cpu0,
                                                                              strict=True)]
        result.worker_cpu_s = (cpu_seconds(worker_pid) - worker0) if worker_pid else 0.0
        elapsed = max(1e-9, time.time() - started)
        result.client_cores = (time.process_time() - client0) / elapsed
        result.machine_cores = (machine_busy_seconds() - machine0) / elapsed
        if not result.burst:
            result.redis = monitor.stop()
        for task in done:
            if task.exception() is not None:
                print("client failed:", repr(task.exception()), flush=True)


# --- the report -------------------------------------------------------------------------
def ms(values: list[float], pct: float) -> str:
    return f"{1000 * percentile(values, pct):.0f}" if values else "-"


def per_web_rows(r: Round) -> list[dict[str, Any]]:
    rows = []
    for web in range(r.webs):
        clients = [c for c in r.clients if c.web == web]
        boundary = [value for c in clients for value in c.staleness]
        lags = [lag for c in clients for lag in c.delta_lags]
        redis_msgs = r.redis.get("evalsha", 0)
        rows.append({
            "scenario": r.scenario, "kind": r.kind, "web": web, "webs": r.webs,
            "clients": len(clients),
            "connect_s": r.connect_wall_s,
            "connect_p99": percentile([c.connect_s for c in clients if c.connected_at], 99),
            "refused": sum(c.refused for c in clients),
            "missed": sum(not c.ended for c in clients),
            "lag50": ms(lags, 50), "lag99": ms(lags, 99),
            "b50": ms(boundary, 50), "b99": ms(boundary, 99),
            "boundary": boundary, "lags": lags,
            "cpu": r.web_cpu_s[web], "cores": r.web_cpu_s[web] / max(1e-9, r.wall_s),
            "cpu_per": 1000 * r.web_cpu_s[web] / max(1, len(clients)),
            # Per WebSocket message (or poll answered) in the measured window.
            "us_per_msg": 1e6 * r.web_cpu_s[web] / max(1, sum(c.messages for c in clients)),
            "connect_cpu_per": 1000 * r.connect_cpu_s[web] / max(1, len(clients)),
            "kib_per": 1024 * r.rss_delta_mb[web] / max(1, len(clients)),
            "rss_reused": r.rss_reused[web],
            "redis_msgs": redis_msgs / r.streams if r.redis else None,
            "redis_copies": (r.redis.get("lua zadd", 0) / r.streams) if r.redis else None,
            "redis_cmds": sum(r.redis.values()) / r.streams if r.redis else None,
            "wall": r.wall_s, "machine": r.machine_cores, "client": r.client_cores,
            "worker": r.worker_cpu_s, "load": r.load,
        })
    return rows


def table(rounds: list[Round]) -> str:
    lines = [
        "| scenario | clients on this web | connect s (p99 one) | refused | missed ends "
        "| token lag p50 / p99 ms | boundary staleness p50 / p99 ms | web CPU s (cores) "
        "| web CPU ms per watcher | web CPU µs per message | connect CPU ms per socket "
        "| KiB per socket "
        "| Redis msgs / copies / commands per stream | wall s | machine / client cores (load) |",
        "|" + "---|" * 15,
    ]
    for r in rounds:
        if r.burst:
            continue
        for row in per_web_rows(r):
            name = row["scenario"] + (f" (web {row['web'] + 1} of 2)" if row["webs"] > 1 else "")
            redis = ("-" if row["redis_msgs"] is None or row["redis_cmds"] == 0 else
                     f"{row['redis_msgs']:.0f} / {row['redis_copies']:.0f} / "
                     f"{row['redis_cmds']:.0f}")
            lag = f"{row['lag50']} / {row['lag99']}" if row["kind"] == "ws" else "(no tokens)"
            # Pollers poll while they wait for the start: their handshake is not alone.
            connect_cpu = f"{row['connect_cpu_per']:.1f}" if row["kind"] == "ws" else "-"
            kib = "(reused)" if row["rss_reused"] else f"{row['kib_per']:.0f}"
            lines.append(
                f"| {name} | {row['clients']} | {row['connect_s']:.1f} "
                f"({row['connect_p99']:.2f}) | {row['refused']} | {row['missed']} | {lag} "
                f"| {row['b50']} / {row['b99']} | {row['cpu']:.1f} ({row['cores']:.2f}) "
                f"| {row['cpu_per']:.1f} | {row['us_per_msg']:.0f} | {connect_cpu} "
                f"| {kib} | {redis} | {row['wall']:.1f} "
                f"| {row['machine']:.2f} / {row['client']:.2f} ({row['load']:.1f}) |"
            )
    return "\n".join(lines)


CHANGES = ["draft started", "draft completed", "polish started", "polish completed",
           "stream end"]


def change_table(rounds: list[Round]) -> str:
    """Boundary staleness by kind of change (p50 / p99 ms), every web process together."""
    lines = ["| scenario | " + " | ".join(CHANGES) + " |", "|" + "---|" * (len(CHANGES) + 1)]
    for r in rounds:
        if r.burst:
            continue
        cells = []
        for name in CHANGES:
            values = [v for c in r.clients for v in c.staleness_by_change.get(name, [])]
            cells.append(f"{ms(values, 50)} / {ms(values, 99)}")
        lines.append(f"| {r.scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def burst_table(rounds: list[Round]) -> str:
    lines = ["| scenario | sockets dropped at once | reconnected | reconnect p50 / p99 / max s "
             "| refused handshakes | missed ends |", "|---|---|---|---|---|---|"]
    for r in rounds:
        if not r.burst:
            continue
        times = [c.reconnect_s for c in r.clients if c.reconnect_s is not None]
        lines.append(
            f"| {r.scenario} | {len(r.clients)} | {len(times)} "
            f"| {percentile(times, 50):.2f} / {percentile(times, 99):.2f} "
            f"/ {max(times, default=float('nan')):.2f} "
            f"| {sum(c.refused for c in r.clients)} | {sum(not c.ended for c in r.clients)} |"
        )
    return "\n".join(lines)


def goals(rounds: list[Round]) -> str:
    """Push against polling, per mode: the issue's three goals."""
    out = []
    by_name = {r.scenario: r for r in rounds if not r.burst}
    for mode in ("distributed", "embedded"):
        push, poll = by_name.get(f"{mode}, WebSocket"), by_name.get(f"{mode}, polling")
        if push is None or poll is None:
            continue
        p, q = per_web_rows(push)[0], per_web_rows(poll)[0]
        if not p["boundary"] or not q["boundary"]:
            continue
        p50, p99 = percentile(p["boundary"], 50), percentile(p["boundary"], 99)
        q50, q99 = percentile(q["boundary"], 50), percentile(q["boundary"], 99)
        lag50 = percentile(p["lags"], 50) if p["lags"] else float("nan")
        out.append(
            f"- {mode}: push boundary p50 {1000 * p50:.0f} ms against polling "
            f"{1000 * q50:.0f} ms (1/{q50 / max(p50, 1e-9):.1f}; goal: 1/5 or better, "
            f"{'met' if p50 <= q50 / 5 else 'NOT met'}); token lag p50 {1000 * lag50:.0f} ms "
            f"(1/{q50 / max(lag50, 1e-9):.1f}); p99 {1000 * p99:.0f} against "
            f"{1000 * q99:.0f} ms ({'met' if p99 <= q99 else 'NOT met'}); web CPU per watcher "
            f"{p['cpu_per']:.1f} against {q['cpu_per']:.1f} ms "
            f"({q['cpu_per'] / max(p['cpu_per'], 1e-9):.1f}x less; "
            f"{'met' if p['cpu_per'] < q['cpu_per'] else 'NOT met'})."
        )
    return "\n".join(out)


# --- processes --------------------------------------------------------------------------
def start_webs(procs: Procs, count: int, label: str) -> list[tuple[Any, str]]:
    webs = []
    for index in range(count):
        port = free_port()
        webs.append((procs.start(f"{label}-daphne-{index}", [
            "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.web_app:application"]),
            f"127.0.0.1:{port}"))
    for _, host in webs:
        wait_until(lambda h=host: web_up(h), 60, "Daphne")  # type: ignore[misc]
    return webs


def post(host: str, path: str, body: bytes) -> None:
    request = urllib.request.Request(f"http://{host}{path}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204, response.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--watchers", type=int, default=10, help="watchers per stream")
    parser.add_argument("--quick", action="store_true", help="10 streams x 5 watchers")
    parser.add_argument("--rate", type=float, default=50.0, help="model tokens per second")
    parser.add_argument("--auth", choices=["session", "token"], default="session")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help="scenarios to run, of " + ",".join(SCENARIOS))
    parser.add_argument("--burst-at", type=float, default=3.0,
                        help="seconds into the burst round when every socket is dropped")
    parser.add_argument("--name", default="watchers")
    parser.add_argument("--extra-env", default="", help="KEY=VALUE,... for the children")
    args = parser.parse_args()
    if args.quick:
        args.streams, args.watchers = 10, 5
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    import psycopg
    import redis

    tag = uuid.uuid4().hex[:8]
    database = f"rs_watch_{tag}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
    logs = ROOT / "bench" / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sockets = args.streams * args.watchers
    common = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reportsite.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "LLM_PROVIDER": "offline",
        "OFFLINE_TOKENS_PER_SECOND": str(args.rate),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "LOG_LEVEL": "WARNING",
        # One user owns every stream: let them all run at once.
        "MAX_ACTIVE_STREAMS_PER_USER": str(10 * args.streams),
        "STREAMS_PER_USER_PER_MINUTE": str(100 * args.streams),
        "EMBEDDED_RUNNER_THREADS": str(args.streams + 4),
    }
    common.update(dict(item.split("=", 1) for item in args.extra_env.split(",") if "=" in item))
    distributed = {**common, "REDIS_URL": REDIS_URL, "CHANNEL_LAYER_PREFIX": f"rs-watch-{tag}",
                   "CELERY_QUEUE": f"rs-watch-{tag}"}
    embedded = {k: v for k, v in common.items() if k != "REDIS_URL"}
    rounds: list[Round] = []
    procs_list: list[Procs] = []
    created: list[str] = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT,
                       env=distributed, check=True, capture_output=True)
        subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput",
                        "--username", "bench", "--email", "bench@example.com"],
                       cwd=ROOT, env=distributed, check=True, capture_output=True)
        # This process creates the streams (and enqueues them, in distributed mode).
        os.environ.update(distributed)
        os.environ["STREAM_RUNNER"] = "manual"
        import django

        django.setup()
        import reportsite.celery  # noqa: F401  (binds the tasks to the configured app)
        from bench.pipeline import register

        register()
        from django.contrib.auth.models import User

        from reports.models import ApiToken

        user = User.objects.get(username="bench")
        bench = Bench(args, user, logs)
        created = bench.created

        def credentials(host: str) -> tuple[str, str]:
            if args.auth == "token":
                return ("token", ApiToken.objects.issue(user=user, name="bench"))
            return ("session", login(host, "bench"))

        def note(r: Round) -> None:
            rounds.append(r)
            if r.burst:
                print(burst_table([r]).splitlines()[-1], flush=True)
            else:
                for line in table([r]).splitlines()[2:]:
                    print(line, flush=True)

        wanted = set(args.only.split(","))
        if wanted & {name for name in SCENARIOS if name.startswith("dist")}:
            procs = Procs(distributed, logs)
            procs_list.append(procs)
            from reports.runtime.tasks import run_stream_task

            async def enqueue(ids: list[str]) -> None:
                for sid in ids:
                    run_stream_task.delay(sid)

            worker = procs.start("watchers-worker", [
                "-m", "celery", "-A", "bench.worker_app", "worker", "--pool", "gevent",
                "--concurrency", "500", "--loglevel", "INFO", "--without-mingle",
                "--without-gossip", "-n", f"watch-{tag}@%h"])
            webs = start_webs(procs, 2, "watchers")
            log = logs / "watchers-worker.log"
            wait_until(lambda: b" ready." in log.read_bytes(), 60, "the worker")
            hosts = [(host, credentials(host)) for _, host in webs]
            pids = [p.pid for p, _ in webs]
            one = Target(hosts[:1], pids[:1], worker.pid, enqueue)
            two = Target(hosts, pids, worker.pid, enqueue)
            # A warm-up stream (imports, connections, first queries), not recorded.
            bench.run("warm-up", two, kind="ws", streams=1, watchers=2)
            if "dist-ws" in wanted:
                note(bench.run("distributed, WebSocket", one, kind="ws"))
            if "dist-poll" in wanted:
                note(bench.run("distributed, polling", one, kind="poll"))
            if "dist-ws2" in wanted:
                note(bench.run("distributed, WebSocket, 2 webs", two, kind="ws"))
            if "dist-burst" in wanted:
                note(bench.run("distributed, WebSocket", one, kind="ws", burst=True))
            procs.stop()
        if wanted & {name for name in SCENARIOS if name.startswith("emb")}:
            procs = Procs(embedded, logs)
            procs_list.append(procs)
            (web, host), = start_webs(procs, 1, "watchers-embedded")

            async def trigger(ids: list[str]) -> None:
                await asyncio.to_thread(post, host, "/bench/enqueue/", "\n".join(ids).encode())

            one = Target([(host, credentials(host))], [web.pid], None, trigger)
            bench.run("warm-up", one, kind="ws", streams=1, watchers=2)
            if "emb-ws" in wanted:
                note(bench.run("embedded, WebSocket", one, kind="ws"))
            if "emb-poll" in wanted:
                note(bench.run("embedded, polling", one, kind="poll"))
            if "emb-burst" in wanted:
                note(bench.run("embedded, WebSocket", one, kind="ws", burst=True))
            procs.stop()

        header = (
            f"# {args.name}\n\n{args.streams} streams x {args.watchers} watchers "
            f"({sockets} clients), offline model at {args.rate:g} tokens/s, bench pipeline "
            f"(2 stages, 250 + 150 tokens), {args.auth} auth, pollers every "
            f"{1000 * POLL_INTERVAL:.0f} ms; distributed: Daphne (`bench.web_app`) + one "
            f"Celery worker (`--pool gevent -c 500`), Redis db {REDIS_DB}, PostgreSQL; "
            f"embedded: one Daphne with the in-process runner and the in-memory layer, same "
            f"PostgreSQL; {'extra env ' + args.extra_env + '; ' if args.extra_env else ''}"
            f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}.\n\n"
        )
        report = table(rounds)
        if any(r.burst for r in rounds):
            report += ("\n\nBurst: a second round of streams; "
                       f"{args.burst_at:g} s after they start every socket is dropped "
                       "(TCP abort) and reconnects at once.\n\n" + burst_table(rounds))
        report += ("\n\nBoundary staleness by change, p50 / p99 ms (every web process):\n\n"
                   + change_table(rounds))
        report += "\n\nGoals (push against polling, one web process):\n\n" + goals(rounds)
        print(report)
        out = ROOT / "bench" / "results" / f"{args.name}.md"
        out.write_text(header + report + "\n")
        print(f"written to {out.relative_to(ROOT)}")
    finally:
        for procs in procs_list:
            procs.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # type: ignore[arg-type]
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"*rs-watch-{tag}*"))
        keys += [f"reports:events:{sid}" for sid in created]  # the SSE event logs
        if keys:
            client.delete(*keys)


if __name__ == "__main__":
    main()
