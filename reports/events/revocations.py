"""Telling every process that a user's access changed, so their open sockets and event
streams are checked again at once (docs/security.md, "Revoking access is immediate").

Every save or delete of a user (a password change, a deactivation, a deletion; from a
page, the admin, a shell or another process) and every change or deletion of an API
token is announced on the user's channel-layer group once its transaction commits.
The sockets themselves decide what the change means for them
(reports/live/guards.py): a change that leaves them valid leaves them open.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from reports.domain.events import ACCESS_CHANGED, user_group
from reports.events.publisher import publisher
from reports.models import ApiToken

# Saves that change nothing a session or token is checked against.
_HARMLESS_FIELDS = frozenset({"last_login"})


def announce_access_change(user_id: Any) -> None:
    """Once the current transaction commits, have every process check again the open
    sockets and event streams of ``user_id``."""
    message = {"type": ACCESS_CHANGED, "user_id": str(user_id)}
    transaction.on_commit(lambda: publisher.publish_to_group(user_group(user_id), message))


def _user_changed(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if kwargs.get("created") or (update_fields and set(update_fields) <= _HARMLESS_FIELDS):
        return  # a new user has no sockets; a login only notes its time
    announce_access_change(instance.pk)


def _token_changed(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    if kwargs.get("created"):
        return  # a new token has opened nothing yet
    announce_access_change(instance.user_id)


def connect_signals() -> None:
    """Announce every change of a user or token (called once, from the app's ready)."""
    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="announce-user-save")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="announce-user-delete")
    post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="announce-token-save")
    post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="announce-token-delete")
