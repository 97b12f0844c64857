"""Starmap fixtures: a brief, and a factory for starmap streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

STARMAP_INPUT: dict[str, Any] = {
    "title": "Service excellence starmap",
    "organisation": "Northwind Health",
    "industry": "Healthcare",
    "size": "1000-4999",
    "roles_audiences": "Front-desk staff (120)\nTeam leads (15)\nWard nurses (300)",
    "business_goals": "Raise patient satisfaction from 72% to 85% by year end. "
    "Halve complaint handling time.",
    "performance_gaps": "Staff do not know the new booking system.\n"
    "Complaints are escalated too late.\nLow confidence handling angry patients.",
    "constraints": "No overtime budget; shifts run 24/7.",
    "timeline": "Pilot in Q1, all staff by Q3",
    "budget": "50000",
    "currency": "EUR",
    "delivery_preferences": "Mobile friendly, at most one hour a week",
}


@pytest.fixture
def starmap_input() -> dict[str, Any]:
    return dict(STARMAP_INPUT)


@pytest.fixture
def make_starmap(user: User) -> Callable[..., Any]:
    """Create a starmap stream (and its job) for ``user`` through the core's service."""
    from reports.streams.services import create_streaming_job

    def make(owner: User | None = None, **overrides: Any) -> Any:
        stream, _ = create_streaming_job(
            user=owner or user, type="starmap", input_data={**STARMAP_INPUT, **overrides}
        )
        return stream

    return make
