from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from reports.domain.events import FINAL_EVENTS, EventType
from reports.live.subscriptions import subscribe
from reports.streams.services import ServiceError, create_streaming_job


class Command(BaseCommand):
    help = "Generate a job from a JSON file of inputs and print its events as they happen."

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
        done = threading.Event()
        final: dict[str, Any] = {}

        def show(event: dict[str, Any]) -> None:
            kind = event["type"]
            if kind == EventType.STAGE_DELTA:
                if options["deltas"]:
                    self.stdout.write(event["text"], ending="")
                return
            detail = event.get("stage") or event.get("stream", {}).get("status", "")
            self.stdout.write(f"[{event['seq']}] {kind} {detail}".rstrip())
            if kind in FINAL_EVENTS:
                final.update(event)
                done.set()

        # Subscribe before the runner starts, so no event is missed.
        with transaction.atomic():
            try:
                stream, _ = create_streaming_job(
                    user=user, type=options["type"], input_data=input_data
                )
            except ServiceError as exc:
                raise CommandError(f"{exc.message} {exc.details or ''}".strip()) from None
            unsubscribe = subscribe(stream.pk, show)
        try:
            if not done.wait(options["timeout"]):
                raise CommandError(f"Stream {stream.pk} did not finish in time.")
        finally:
            unsubscribe()
        self.stdout.write(f"stream {stream.pk}: {final['type'].split('.')[1]}")
        if final.get("report_id"):
            self.stdout.write(f"report {final['report_id']}")
