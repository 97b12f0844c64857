"""CPU per 1,000 streamed tokens: the providers' stream loop, SDK vs lean, against the
parsing-only floor.

For each protocol (OpenAI chat completions, Anthropic messages) a local server
(bench/llm_server.py, one token per chunk, unpaced) streams ``--tokens`` tokens per
call, ``--calls`` times. Measured in this process (``time.process_time``: every thread,
the provider's watchdog included):

- ``sdk``: the provider's loop on the SDK's stream (a pydantic object per chunk);
- ```lean``: the provider's loop on the raw body (``reports/providers/sse.py``: SSE split
  by hand, orjson dicts);
- ``floor``: the same HTTP request with a bare httpx2 client, each event's data parsed
  with orjson and nothing else (what any loop must at least spend);
- ``read``: the same request, the body read and dropped (the HTTP cost alone).

    .venv/bin/python bench/providers.py [--tokens 2000] [--calls 5] [--name NAME]

Prints a Markdown table and writes it to bench/results/<name>.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-secret")
os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-not-secret")

import django  # noqa: E402

django.setup()

import httpx2  # noqa: E402
import orjson  # noqa: E402
from django.test import override_settings  # noqa: E402

from reports.providers.anthropic_provider import AnthropicProvider  # noqa: E402
from reports.providers.base import CompletionRequest  # noqa: E402
from reports.providers.openai_provider import OpenAIProvider  # noqa: E402
from reports.providers.sdk import Timeouts  # noqa: E402
from reports.providers.sse import sse_events  # noqa: E402

PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(protocol: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "llm_server.py"),
                                "--port", str(port), "--rate", "1000000",
                                "--protocol", protocol])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bench LLM server did not start")


def provider_loop(protocol: str, port: int, tokens: int, lean: bool) -> Callable[[], int]:
    timeouts = Timeouts(connect=5, first_token=30, idle=30, total=600)
    provider: OpenAIProvider | AnthropicProvider
    if protocol == "openai":
        provider = OpenAIProvider(api_key="sk-bench", base_url=f"http://127.0.0.1:{port}/v1",
                                  timeouts=timeouts)
    else:
        provider = AnthropicProvider(api_key="sk-ant-bench", base_url=f"http://127.0.0.1:{port}",
                                     timeouts=timeouts)
    request = CompletionRequest(model="bench", system="", prompt="Go.", max_tokens=tokens)

    def run() -> int:
        with override_settings(LLM_STREAM_PARSER="lean" if lean else "sdk"):
            stream = provider.stream(request)
            count = sum(1 for _ in stream)
            assert stream.usage is not None and stream.usage.tokens_out == tokens
            return count

    return run


def raw_loop(protocol: str, port: int, tokens: int, parse: bool) -> Callable[[], int]:
    body: dict[str, Any] = {"model": "bench", "max_tokens": tokens, "stream": True,
                            "messages": [{"role": "user", "content": "Go."}]}
    url = f"http://127.0.0.1:{port}{PATHS[protocol]}"
    # Built once, like the providers' clients, and like them without keep-alive.
    client = httpx2.Client(limits=httpx2.Limits(max_keepalive_connections=0))

    def run() -> int:
        count = 0
        with client.stream("POST", url, json=body) as response:
            if not parse:
                for _ in response.iter_bytes():
                    count += 1
                return count
            for _, data in sse_events(response.iter_bytes()):
                if data != b"[DONE]":
                    orjson.loads(data)
                    count += 1
        return count

    return run


def cpu_per_1000(run: Callable[[], int], tokens: int, calls: int, rounds: int = 3) -> float:
    """Milliseconds of CPU per 1,000 tokens over ``calls`` calls (after one warm-up): the
    least of ``rounds`` rounds, the one least disturbed by whatever else the machine ran."""
    run()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            run()
        best = min(best, time.process_time() - started)
    return best * 1000 / (tokens * calls / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--name", default="providers-lean-vs-sdk")
    args = parser.parse_args()
    rows = []
    for protocol in ("openai", "anthropic"):
        process, port = start_server(protocol)
        try:
            loops = {
                "sdk": provider_loop(protocol, port, args.tokens, lean=False),
                "lean": provider_loop(protocol, port, args.tokens, lean=True),
                "floor (SSE + orjson only)": raw_loop(protocol, port, args.tokens, parse=True),
                "read (body only)": raw_loop(protocol, port, args.tokens, parse=False),
            }
            found = {name: cpu_per_1000(run, args.tokens, args.calls)
                     for name, run in loops.items()}
        finally:
            process.terminate()
            process.wait(10)
        floor = found["floor (SSE + orjson only)"]
        for name, ms in found.items():
            rows.append((protocol, name, ms, ms / floor if floor else 0.0))
    lines = [
        f"# Provider stream loops: CPU per 1,000 tokens ({args.tokens} tokens x {args.calls} "
        "calls, one token per chunk)",
        "",
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "CPU of this process (time.process_time, the least of 3 rounds), the server in its "
        f"own process; load average {os.getloadavg()[0]:.1f} when it ended.",
        "",
        "| protocol | loop | CPU ms / 1,000 tokens | x floor |",
        "|---|---|---:|---:|",
        *[f"| {p} | {name} | {ms:.1f} | {ratio:.2f} |" for p, name, ms, ratio in rows],
        "",
    ]
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results" / f"{args.name}.md"
    out.write_text(table)
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
