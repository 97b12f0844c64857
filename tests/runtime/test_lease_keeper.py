"""The lease heartbeat thread outlives a database outage (it renews every lease this
process holds: if it died, every running stream here would lose its lease)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from reports.runtime import leases
from reports.runtime.leases import LeaseKeeper
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_heartbeat_survives_a_database_that_refuses_even_the_cleanup(
    make_stream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = make_stream()
    refused: list[str] = []

    def away(*args: Any, **kwargs: Any) -> None:
        refused.append("refused")
        raise OperationalError("the database is away")

    # The outage: the renewal fails, and so does closing the broken connection.
    monkeypatch.setattr(LeaseKeeper, "renew", away)
    monkeypatch.setattr(leases, "close_old_connections", away)
    keeper = LeaseKeeper()
    held = keeper.hold(stream.pk, "owner-1")
    wait_for(lambda: len(refused) >= 4)  # two heartbeats, each failing twice
    thread = keeper._thread
    assert thread is not None and thread.is_alive()

    renewed: list[str] = []
    monkeypatch.setattr(LeaseKeeper, "renew", lambda self, h: renewed.append("ok"))
    wait_for(lambda: renewed)  # back: the same thread renews again
    assert keeper._thread is thread
    keeper.drop(held)
