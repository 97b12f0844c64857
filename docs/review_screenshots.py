"""Screenshots of the forecast on the report form and of a report waiting for the review
of its outline, at 1280x900 and 390x844.

``.venv/bin/python docs/review_screenshots.py`` starts a real server (embedded mode, the
offline model, its own SQLite file), drives Chromium (/usr/bin/chromium) and writes
``docs/report-{forecast,review}-{desktop,phone}.png`` (docs/pages.md shows them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from devtools.servers import embedded_server, sign_up  # noqa: E402

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
REPORT = {
    "#id_title": "Customer retention plan",
    "#id_client": "Acme Ltd",
    "#id_objective": "Reduce customer churn by 20% within a year, starting with onboarding.",
    "#id_audience": "the board",
    "#id_context_notes": "Churn rose from 8% to 12% after the price change in March.",
}


def shoot(page: Any, name: str, kind: str, selector: str) -> None:
    path = DOCS / f"report-{name}-{kind}.png"
    page.locator(selector).scroll_into_view_if_needed()
    page.screenshot(path=str(path), full_page=kind == "phone")
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    with embedded_server(OFFLINE_TOKENS_PER_SECOND="400") as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for kind, (width, height) in VIEWPORTS.items():
            page = browser.new_context(viewport={"width": width, "height": height}).new_page()
            page.set_default_timeout(60_000)
            sign_up(page, server.url, f"dana-{kind}")
            page.goto(server.url + "/reports/new/")
            for selector, value in REPORT.items():
                page.fill(selector, value)
            page.check("#id_review_outline")
            page.fill("#id_budget_usd", "0.50")
            page.locator("#id_budget_usd").blur()  # the panel follows the inputs
            page.wait_for_load_state("networkidle")
            page.locator("#forecast-report summary").click()
            shoot(page, "forecast", kind, "#forecast-report")
            page.click("button[name=generate]")
            page.locator(".review-panel").wait_for()
            page.wait_for_timeout(300)
            shoot(page, "review", kind, ".review-panel")
        browser.close()


if __name__ == "__main__":
    main()
