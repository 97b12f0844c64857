from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reports.models import create_api_token

MAX_DAYS = 3650


class Command(BaseCommand):
    help = "Create a bearer token for the JSON API and print it (shown only once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--days", type=float, default=None,
            help=f"Refuse the token after this many days (up to {MAX_DAYS}; "
            "default: until it is revoked).",
        )

    def handle(
        self, *args: Any, username: str, name: str, days: float | None, **options: Any
    ) -> None:
        if days is not None and not 0 < days <= MAX_DAYS:
            raise CommandError(f"--days must be more than 0 and at most {MAX_DAYS}.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        self.stdout.write(create_api_token(user=user, name=name, days=days))
