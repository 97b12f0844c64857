from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import IO, Any, cast

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from reports.domain.events import FINAL_EVENTS, EventType
from reports.live.subscriptions import subscribe
from reports.management.progress import GenerateProgress
from reports.models import StreamingJob
from reports.runtime.leases import keeper
from reports.streams.selectors import stream_snapshot
from reports.streams.services import ServiceError, create_streaming_job

# Stage boundaries change the estimate: the snapshot is read again after them.
BOUNDARIES = {EventType.STAGE_STARTED, EventType.STAGE_COMPLETED, EventType.STAGE_FAILED}
# After the final event the runner still saves and releases its lease: wait that long at
# most, so exiting does not interrupt a run that has, in fact, finished.
RELEASE_WAIT_SECONDS = 10.0


def refused(exc: ServiceError) -> str:
    """A refused input, one line a field, in the form's words."""
    lines = [exc.message]
    for item in exc.details if isinstance(exc.details, list) else []:
        if isinstance(item, dict):
            lines.append(f"  {item.get('field') or 'input'}: {item.get('message')}")
    if exc.details and len(lines) == 1:
        lines.append(f"  {exc.details}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Generate a job from a JSON file of inputs, with a live display of its stages, "
        "tokens, elapsed and remaining time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", help="The job type, e.g. report or starmap.")
        parser.add_argument("input", type=Path, help="A JSON file with the job's inputs.")
        parser.add_argument("--user", required=True, help="The username that owns the job.")
        parser.add_argument("--timeout", type=float, default=600.0)
        parser.add_argument(
            "--deltas", action="store_true", help="Also print the text as it streams."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']!r}.")
        try:
            input_data = json.loads(options["input"].read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read {options['input']}: {exc}") from None
        events: queue.Queue[dict[str, Any]] = queue.Queue()

        # Subscribe before the runner starts, so no event is missed. The callback runs on
        # the subscription's own loop: it only queues, the database is read here.
        with transaction.atomic():
            try:
                stream, _ = create_streaming_job(
                    user=user, type=options["type"], input_data=input_data
                )
            except ServiceError as exc:
                raise CommandError(refused(exc)) from None
            unsubscribe = subscribe(stream.pk, events.put)
        try:
            final = self._follow(stream, events, options)
        finally:
            unsubscribe()
        self._wait_for_release(stream.pk)
        if final.get("report_id"):
            self.stdout.write(f"report {final['report_id']}")

    def _follow(
        self, stream: StreamingJob, events: queue.Queue[dict[str, Any]], options: dict[str, Any]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + options["timeout"]
        # The stream itself: Django's OutputWrapper adds a newline to every write, which
        # would break rich's in-place redraws.
        out = cast(IO[str], self.stdout._out)
        with GenerateProgress(stream_snapshot(stream), out, deltas=options["deltas"]) as ui:
            while time.monotonic() < deadline:
                try:
                    event = events.get(timeout=0.25)
                except queue.Empty:
                    ui.tick()
                    continue
                if event["type"] == "snapshot":
                    continue
                ui.show(event)
                if event["type"] in BOUNDARIES:
                    stream.refresh_from_db()
                    ui.set_eta(stream_snapshot(stream).get("eta_seconds"))
                if event["type"] in FINAL_EVENTS:
                    ui.finish(event)
                    return event
        raise CommandError(f"Stream {stream.pk} did not finish in time.")

    def _wait_for_release(self, stream_id: Any) -> None:
        deadline = time.monotonic() + RELEASE_WAIT_SECONDS
        while keeper.get(stream_id) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
