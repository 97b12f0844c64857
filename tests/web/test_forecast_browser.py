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


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)])
def test_the_report_form_forecasts_cost_and_time_before_generate(
    browser_page: Any, site: ServerProcess, viewport: tuple[int, int], tmp_path: Path
) -> None:
    page = browser_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_up(page, site.url, f"forecaster-{viewport[0]}")
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.goto(site.url + "/reports/new/")
    panel = page.locator("#forecast-report")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-forecast-cost]")).to_have_text("free")  # the offline model
    expect(panel).to_contain_text("about")
    # Mark the panel's content: a swap replaces it.
    panel.locator("h2").evaluate("heading => heading.setAttribute('data-before', '')")
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme")
    # The panel is posted the form's inputs on every change and swapped in place. (How
    # much longer notes make the prompts is tested without a browser: on this shared
    # server other tests leave history, and the medians of history do not follow inputs.)
    with page.expect_response(
        lambda r: r.url.endswith("/forecast/report/") and "Churn" in (r.request.post_data or "")
    ) as answer:
        page.fill("#id_context_notes", "Churn rose after the price change. " * 60)
        page.locator("#id_context_notes").blur()
    swapped = re.search(r"data-forecast-tokens>([^<]+)<", answer.value.text())
    assert swapped is not None
    expect(page.locator("[data-forecast-tokens]")).to_have_text(swapped.group(1))
    expect(panel.locator("h2[data-before]")).to_have_count(0)
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
    assert not errors, errors  # no request failed or was aborted
