from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def webhook_settings(settings: Any) -> Any:
    """Deliveries to the test's own loopback receiver, retried at once."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 0
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    return settings
