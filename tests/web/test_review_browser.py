"""A review point in a browser at 1280 and 390 px: the report waits after its outline
with the outline in the card, and goes on to completion once it is approved.

Run on its own: ``.venv/bin/pytest -m browser tests/web/test_review_browser.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)])
def test_the_outline_waits_for_review_in_the_card_then_goes_on(
    browser_page: Any, site: ServerProcess, viewport: tuple[int, int]
) -> None:
    page = browser_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_up(page, site.url, f"reviewer-{viewport[0]}")
    page.goto(site.url + "/reports/new/")
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme")
    page.fill("#id_objective", "Reduce churn by a fifth.")
    page.check("#id_review_outline")
    page.click("button[name=generate]")
    note = page.locator(".stream-note-review")
    expect(note).to_contain_text("Waiting for your review of Outline")
    panel = page.locator(".review-panel")
    assert '"sections"' in panel.locator("textarea").input_value()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    page.screenshot(path=f"/tmp/gates-review-{viewport[0]}.png", full_page=True)
    panel.get_by_role("button", name="Approve and go on").click()
    expect(page.locator(".summary").first).to_have_attribute("data-status", "completed",
                                                             timeout=30_000)
    expect(page.locator(".review-panel")).to_have_count(0)
