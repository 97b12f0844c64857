"""Screenshots of a report running, finished and failed, at 1280x900 and 390x844.

``make screenshots`` runs it: it starts a real server (embedded mode, offline model, its own
SQLite file), drives Chromium (/usr/bin/chromium) through Playwright and writes
``docs/report-{running,finished,failed}-{desktop,phone}.png`` (and ``docs/screenshot.png``,
the README's picture). The failure is the fault injection of docs/failures-and-recovery.md:
the first report's summary is refused (``summary:auth``); the fault is then used up, so the
second report finishes. Section drafts stream four times slower, so a run is caught while it runs.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from devtools.servers import embedded_server, log_in, sign_up  # noqa: E402

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


def create_report(page: Any, base_url: str, title: str) -> str:
    """Create and generate a report from the form; return its page's address."""
    page.goto(base_url + "/reports/new/")
    for selector, value in REPORT.items():
        page.fill(selector, value)
    page.fill("#id_title", title)
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    return str(page.url)


def shoot(pages: dict[str, Any], name: str) -> None:
    for kind, page in pages.items():
        path = DOCS / f"report-{name}-{kind}.png"
        page.screenshot(path=str(path), full_page=kind == "phone")
        print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    faults = "summary:auth,sections:slow:4"
    with embedded_server(OFFLINE_TOKENS_PER_SECOND="150", OFFLINE_FAULTS=faults) as server, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages: dict[str, Any] = {}
        for kind, (width, height) in VIEWPORTS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            pages[kind] = context.new_page()
            pages[kind].set_default_timeout(60_000)
        desktop, phone = pages["desktop"], pages["phone"]
        sign_up(desktop, server.url, "dana")
        log_in(phone, server.url, "dana")

        # Running, then failed: the first report's summary is refused.
        failing = create_report(desktop, server.url, "Customer retention plan")
        phone.goto(failing)
        for page in pages.values():
            page.locator("li.stage-running[id$='-sections'] .stage-output").wait_for()
        desktop.wait_for_timeout(2_500)  # some text has streamed
        shoot(pages, "running")
        for page in pages.values():
            page.locator(".summary[data-status=failed]").wait_for()
            page.wait_for_timeout(300)
        shoot(pages, "failed")

        # Finished: the fault is used up, the second report completes.
        done = create_report(desktop, server.url, "Pricing review for the board")
        phone.goto(done)
        for page in pages.values():
            page.locator(".summary[data-status=completed]").wait_for(timeout=120_000)
            page.wait_for_timeout(300)
        shoot(pages, "finished")
        browser.close()
    shutil.copyfile(DOCS / "report-running-desktop.png", DOCS / "screenshot.png")


if __name__ == "__main__":
    main()
