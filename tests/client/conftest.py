"""A Chromium page for the client's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import CHROMIUM_ARGS, chromium_page

# The test page is served by Playwright, from no address at all, so Chromium's Local
# Network Access checks would refuse its WebSockets to 127.0.0.1 (a page the server
# serves has a loopback address and is not affected).
HARNESS_ARGS = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]


@pytest.fixture
def browser_page() -> Iterator[object]:
    """A fresh Chromium page (sync API, closed after the test)."""
    yield from chromium_page(HARNESS_ARGS)
