"""The terminal display of ``manage.py generate``: a line per stage as it starts and ends,
and a live bar with the running stage, tokens, elapsed and remaining time (rich).

On a terminal the bar redraws in place; into a pipe or a file only the stage lines and a
final summary are written, so logs stay readable.
"""

from __future__ import annotations

import time
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

from reports.domain.events import EventType

ICONS = {"completed": "[green]✓[/]", "failed": "[red]✗[/]", "cancelled": "[yellow]■[/]"}


def clock(seconds: float | None) -> str:
    """83.4 -> "1:23"; None (not known) -> "?"."""
    if seconds is None:
        return "?"
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


class GenerateProgress:
    """Follows one stream's events (fed from the command's main thread) and shows them."""

    def __init__(self, snapshot: dict[str, Any], stdout: IO[str], *, deltas: bool = False) -> None:
        self.console = Console(file=stdout, highlight=False, soft_wrap=True)
        self.titles = {s["key"]: s["title"] for s in snapshot["stages"]}
        self.deltas = deltas
        self.started_at = time.monotonic()
        self.stage_started: dict[str, float] = {}
        self.tokens_in = 0
        self.tokens_out = 0
        self.eta: float | None = snapshot.get("eta_seconds")
        self.eta_at = self.started_at
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[tokens]}"),
            TextColumn("elapsed {task.fields[elapsed]}"),
            TextColumn("remaining {task.fields[remaining]}"),
            console=self.console,
            auto_refresh=self.console.is_terminal,
            transient=True,
        )
        self.task: TaskID = self.progress.add_task(
            "Waiting for a runner", total=100, tokens="0 tokens", elapsed="0:00",
            remaining=clock(self.eta),
        )

    def __enter__(self) -> GenerateProgress:
        self.console.print(
            f"Generating {len(self.titles)} stages: "
            + ", ".join(self.titles.values())
        )
        if self.console.is_terminal:  # into a pipe or a file: the stage lines only
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def remaining(self) -> float | None:
        if self.eta is None:
            return None
        return max(0.0, self.eta - (time.monotonic() - self.eta_at))

    def tick(self) -> None:
        """Between events: the clocks move on."""
        self.progress.update(
            self.task,
            elapsed=clock(time.monotonic() - self.started_at),
            remaining=clock(self.remaining()),
            tokens=f"{self.tokens_in:,} in · {self.tokens_out:,} out",
        )

    def set_eta(self, eta_seconds: float | None) -> None:
        self.eta, self.eta_at = eta_seconds, time.monotonic()

    def show(self, event: dict[str, Any]) -> None:
        """One event: a line for a stage boundary, the bar for the rest."""
        kind = event["type"]
        key = event.get("stage") or ""
        title = self.titles.get(key, key)
        if kind == EventType.STAGE_DELTA:
            if self.deltas:
                self.console.out(event["text"], end="", highlight=False)
        elif kind == EventType.STAGE_STARTED:
            self.stage_started[key] = time.monotonic()
            self.console.print(f"[blue]▶[/] {title}")
            self.progress.update(self.task, description=title)
        elif kind == EventType.STAGE_COMPLETED:
            self.tokens_in += int(event.get("tokens_in") or 0)
            self.tokens_out += int(event.get("tokens_out") or 0)
            took = event.get("duration_s")
            self.console.print(
                f"{ICONS['completed']} {title}  {int(event.get('tokens_out') or 0):,} tokens"
                + (f"  {took:.1f} s" if isinstance(took, int | float) else "")
            )
        elif kind == EventType.STAGE_FAILED:
            self.console.print(f"{ICONS['failed']} {title}: {event.get('error') or 'failed'}")
        elif kind == EventType.STREAM_PROGRESS and "progress" in event:
            self.progress.update(self.task, completed=event["progress"])
        self.tick()

    def finish(self, final: dict[str, Any]) -> None:
        """The closing summary: status, tokens, time."""
        self.progress.update(self.task, completed=final.get("progress") or 0)
        self.progress.stop()
        status = final["type"].split(".", 1)[1]
        icon = ICONS.get(status, "")
        self.console.print(
            f"{icon} Stream {final['stream_id']} {status} in "
            f"{clock(time.monotonic() - self.started_at)}: "
            f"{self.tokens_in:,} tokens in, {self.tokens_out:,} out"
        )
