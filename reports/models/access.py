"""Who may see a row: its owner, or staff (the one ownership rule of every page, API
call and socket)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

Rows = TypeVar("Rows", bound=models.QuerySet[Any])

__all__ = ["is_staff", "may_see", "visible_to"]


def is_staff(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Staff see and act on every stream, job and document."""
    return bool(getattr(user, "is_staff", False))


def may_see(user: AbstractBaseUser | AnonymousUser, owner_id: Any) -> bool:
    """``visible_to``'s rule for one row whose owner is known (the live sockets cache
    owners so a handshake needs no query): the owner, or staff."""
    return bool(user.is_authenticated and (is_staff(user) or owner_id == user.pk))


def visible_to(queryset: Rows, user: AbstractBaseUser | AnonymousUser) -> Rows:
    """The rows of ``queryset`` that ``user`` may see: their own (``owner``), or every
    row for staff; nothing for an anonymous visitor. The one ownership rule."""
    if not user.is_authenticated:
        return queryset.none()
    if is_staff(user):
        return queryset
    return queryset.filter(owner=user)
