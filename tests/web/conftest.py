"""Fixtures of the web tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def api(user: User) -> Client:
    """A signed-in client that enforces CSRF, with its CSRF cookie set."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/accounts/login/")  # sets the CSRF cookie
    return client
