"""The forecast on the report form, in a browser at 1280 and 390 px: shown before
Generate, per stage on request, and refreshed as the inputs change.

Run on its own: ``.venv/bin/pytest -m browser tests/web/test_forecast_browser.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up

pytestmark = pytest.mark.browser


def tokens(page: Any) -> int:
    return int(page.locator("[data-forecast-tokens]").inner_text().replace(",", ""))


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)])
def test_the_report_form_forecasts_cost_and_time_before_generate(
    browser_page: Any, site: ServerProcess, viewport: tuple[int, int], tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_up(page, site.url, f"forecaster-{viewport[0]}")
    page.goto(site.url + "/reports/new/")
    panel = page.locator("#forecast-report")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-forecast-cost]")).to_have_text("free")  # the offline model
    expect(panel).to_contain_text("about")
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme")
    notes = "Churn rose after the price change. " * 60
    # The panel is posted the form's inputs on every change and swapped in place. (The
    # token count grows with the notes only while there are no earlier runs to take
    # medians of, and other tests on this server may have run reports.)
    with page.expect_response(
        lambda r: "/forecast/report/" in r.url and "context_notes=Churn" in (
            r.request.post_data or "")
    ) as answer:
        page.fill("#id_context_notes", notes)
        page.locator("#id_context_notes").blur()
    assert answer.value.status == 200
    expect(page.locator("[data-forecast-tokens]")).to_have_text(
        re.compile(r"^[0-9,]+$"))
    assert tokens(page) > 0
    expect(page.locator("#forecast-report")).to_be_visible()
    page.locator("#forecast-report summary").click()
    rows = page.locator("#forecast-report tbody tr")
    expect(rows).to_have_count(7)
    expect(rows.first).to_contain_text("Brief analysis")
    box = page.locator("#forecast-report").bounding_box()
    assert box is not None and box["width"] <= viewport[0]
    # No sideways scrolling at phone width.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    page.locator("#forecast-report").screenshot(path=str(tmp_path / "forecast.png"))
    page.screenshot(path=f"/tmp/gates-forecast-{viewport[0]}.png", full_page=True)
