"""Who may watch a stream, decided without a database round trip per handshake.

A stream's owner never changes, so this process remembers each stream's owner once
it has read it; the rule itself is the models' (``may_see``: the owner, or staff).
Sockets that ask about the same unseen streams at once (every watcher of a stream
reconnecting after a restart) share one query. A reconnect storm then costs the
session lookup per socket and one query per stream not seen before.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from reports.models import StreamingJob, may_see
from reports.streams.selectors import parse_uuid

OWNERS_KEPT = 100_000
_owners: OrderedDict[uuid.UUID, Any] = OrderedDict()
# The lookups in flight, by stream: a socket asking meanwhile waits for the same one.
_loading: dict[uuid.UUID, asyncio.Future[None]] = {}


@database_sync_to_async
def _read_owners(pks: list[uuid.UUID]) -> list[tuple[uuid.UUID, Any]]:
    return list(StreamingJob.objects.filter(pk__in=pks).values_list("pk", "owner_id"))


async def _load(pks: list[uuid.UUID]) -> None:
    try:
        for pk, owner_id in await _read_owners(pks):
            _owners[pk] = owner_id
        while len(_owners) > OWNERS_KEPT:
            _owners.popitem(last=False)
    finally:
        for pk in pks:
            _loading.pop(pk, None)


async def _remember_owners(pks: list[uuid.UUID]) -> None:
    """Make sure the owners of ``pks`` are known (those that exist)."""
    loop = asyncio.get_running_loop()
    waits: dict[asyncio.Future[None], None] = {}
    new = []
    for pk in pks:
        if pk in _owners:
            continue
        loading = _loading.get(pk)
        if loading is not None and loading.get_loop() is loop:
            waits[loading] = None
        else:
            new.append(pk)
    if new:
        loading = asyncio.ensure_future(_load(new))
        for pk in new:
            _loading[pk] = loading
        waits[loading] = None
    for loading in waits:
        await asyncio.shield(loading)  # one socket leaving does not cancel the others'


async def visible_ids(user: AbstractBaseUser | AnonymousUser, ids: list[str]) -> list[str]:
    """The ids (canonical) of the streams named in ``ids`` that ``user`` may watch; none
    when one of them is not a stream id at all."""
    parsed = [parse_uuid(value) for value in ids]
    pks = [pk for pk in parsed if pk is not None]
    if len(pks) != len(parsed) or not user.is_authenticated:
        return []
    await _remember_owners(pks)
    return [str(pk) for pk in pks if pk in _owners and may_see(user, _owners[pk])]
