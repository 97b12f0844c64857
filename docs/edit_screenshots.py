"""Screenshots of editing a finished report by hand and of a fork's stale warning, at
1280x900 and 390x844 (docs/documents.md shows them).

Run with ``.venv/bin/python docs/edit_screenshots.py`` (after ``make install-test
browser-deps``): it starts a real server (embedded mode, offline model, its own SQLite
file), generates a report, edits its outline in the list editor, and opens "Change and
rerun" with another client; it writes ``docs/edit-{outline,result,fork-stale}-{desktop,
phone}.png``.
"""

from __future__ import annotations

import re
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


def shoot(page: Any, name: str) -> None:
    """The page at both widths (the phone's full length)."""
    for kind, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        path = DOCS / f"edit-{name}-{kind}.png"
        page.screenshot(path=str(path), full_page=kind == "phone")
        print(f"wrote {path.relative_to(ROOT)}")
    page.set_viewport_size({"width": 1280, "height": 900})


def main() -> None:
    with embedded_server(OFFLINE_TOKENS_PER_SECOND="400") as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        sign_up(page, server.url, "dana")
        page.goto(server.url + "/reports/new/")
        page.fill("#id_title", "Customer retention plan")
        page.fill("#id_client", "Acme Ltd")
        page.fill("#id_objective", "Reduce customer churn by 20% within a year.")
        page.click("button[name=generate]")
        page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
        job_url = page.url
        page.locator("li.stage-completed").nth(6).wait_for()

        # The outline, edited in the list editor: renamed, one section added.
        page.goto(job_url)
        page.get_by_role("link", name="Edit Outline").click()
        items = page.locator(".se-item")
        items.nth(0).get_by_label("Title").fill("Where churn starts")
        page.get_by_role("button", name="Add section").click()
        items.last.get_by_label("Title").fill("What to do on Monday")
        items.last.get_by_label("Purpose").fill("The first three steps, with owners.")
        shoot(page, "outline")
        page.get_by_role("button", name=re.compile("Save and rerun")).click()
        page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/$"))
        page.locator("li.stage-completed").nth(6).wait_for()
        shoot(page, "result")

        # Change the client and keep the early stages: the plan says they are stale.
        page.click("text=Change and rerun…")
        page.select_option("select[name=from_stage]", "sections")
        page.fill("#id_client", "Globex Corporation")
        page.locator("#fork-plan .fork-stale").wait_for()
        shoot(page, "fork-stale")
        browser.close()


if __name__ == "__main__":
    main()
