"""The run's use of its thread's database connection while it waits."""

from __future__ import annotations

from django.db import connections


def release_db_connection() -> None:
    """Give this thread's database connection back to the pool while it waits.

    Only with a connection pool (PostgreSQL in distributed mode): hundreds of streams
    per worker then share a few connections, and taking one back costs microseconds.
    """
    connection = connections["default"]
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
