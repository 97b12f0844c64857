"""Per-user limits on what costs money: how many streams a user may start a minute.

The counts live in Django's cache (django-ratelimit), which is Redis in distributed
mode, so every web process shares them. ``STREAMS_PER_USER_PER_MINUTE`` = 0 turns the
limit off.
"""

from __future__ import annotations

import math

from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import get_usage

from reports.domain.config import config
from reports.streams.services import ServiceError

GROUP = "streams.create"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _user_key(group: str, request: HttpRequest) -> str:
    user = getattr(request, "auth", None) or request.user
    return str(user.pk)


def check_creation_rate(request: HttpRequest) -> None:
    """Count one stream creation for the request's user; ``RateLimited`` over the limit."""
    per_minute = config().streams_per_user_per_minute
    if not per_minute:
        return
    usage = get_usage(
        request, group=GROUP, key=_user_key, rate=f"{per_minute}/m", method=ALL, increment=True
    )
    if usage is not None and usage["should_limit"]:
        retry_after = max(1, math.ceil(usage["time_left"]))
        raise RateLimited(
            f"You can start {per_minute} streams a minute; try again in {retry_after} s.",
            retry_after,
        )
