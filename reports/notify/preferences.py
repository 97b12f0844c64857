"""A user's notification choices (the settings page writes them, the senders read them)."""

from __future__ import annotations

from reports.models import NotificationSettings


def wants_email(user_id: int) -> bool:
    """Whether the user opted in to e-mail notices."""
    return NotificationSettings.objects.filter(user_id=user_id, email_when_finished=True).exists()


def email_opt_in(user_id: int) -> bool:
    """The settings page's current value (False until the user chooses)."""
    return wants_email(user_id)


def set_email_opt_in(*, user_id: int, enabled: bool) -> None:
    """Turn e-mail notices on or off for the user."""
    NotificationSettings.objects.update_or_create(
        user_id=user_id, defaults={"email_when_finished": enabled}
    )
