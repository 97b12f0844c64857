"""Screenshots of a report and a starmap written by the local model, at 1280 and 390 px.

``make screenshots-local`` runs it (after ``make install-local``): a real server in
embedded mode with ``LLM_PROVIDER=local`` (SmolLM2-135M on llama.cpp, in the server's
process) and the end-to-end test's short output limits (devtools/local_limits.py),
driven by Chromium (/usr/bin/chromium) through Playwright. It writes
``docs/local-{report,starmap}-{desktop,phone}.png``: each finished card, its cost
"local", its stages naming the model, and the cut-off mark where a stage ran past its
limit.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from devtools.local_limits import LIMITS  # noqa: E402
from devtools.servers import embedded_server, log_in, sign_up  # noqa: E402

DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
FORMS = {
    "report": ("/reports/new/", {
        "#id_title": "Customer retention plan",
        "#id_client": "Acme Ltd",
        "#id_objective": "Reduce customer churn by 20% within a year, starting with "
                         "onboarding.",
        "#id_audience": "the board",
        "#id_context_notes": "Churn rose from 8% to 12% after the price change in March.",
    }),
    "starmap": ("/starmap/", {
        "#id_title": "Service excellence starmap",
        "#id_organisation": "Northwind Health",
        "#id_industry": "Healthcare",
        "#id_timeline": "Pilot in Q1, all staff by Q3",
        "#id_roles_audiences": "Front-desk staff (120)\nTeam leads (15)",
        "#id_business_goals": "Raise patient satisfaction from 72% to 85% by year end.",
        "#id_performance_gaps": "Staff do not know the new booking system.\n"
                                "Complaints are escalated too late.",
    }),
}


def generate(page: Any, base_url: str, kind: str) -> str:
    """Fill ``kind``'s form, create and generate; wait until it completes; its address."""
    path, fields = FORMS[kind]
    page.goto(base_url + path)
    if kind == "starmap":  # the short form on the cards page; the card runs in place
        form = page.locator("details.new-starmap")
        if form.get_attribute("open") is None:  # open already when there is no card
            form.locator("> summary").click()
    for selector, value in fields.items():
        page.fill(selector, value)
    if kind == "report":
        page.click("button[name=generate]")
        page.wait_for_url(re.compile(r"/[0-9a-f-]{36}/$"))
        page.locator(".summary[data-status=completed]").wait_for(timeout=600_000)
        return str(page.url)
    page.select_option("#id_size", "1000-4999")
    page.click("#starmap-form button[name=generate]")
    page.locator("article.job-card .summary[data-status=completed]").wait_for(timeout=600_000)
    link = page.locator("article.job-card a.summary-title").first.get_attribute("href")
    return base_url + str(link)


def main() -> None:
    settings = {"LLM_PROVIDER": "local", "LLM_OUTPUT_LIMITS": LIMITS,
                "LLM_CONTINUATIONS": "1", "LOCAL_MODEL_CONTEXT": "4096"}
    with embedded_server(**settings) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages: dict[str, Any] = {}
        for name, (width, height) in VIEWPORTS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            pages[name] = context.new_page()
            pages[name].set_default_timeout(60_000)
        sign_up(pages["desktop"], server.url, "dana")
        log_in(pages["phone"], server.url, "dana")
        for kind in sys.argv[1:] or list(FORMS):  # e.g. `local_screenshots.py starmap`
            address = generate(pages["desktop"], server.url, kind)
            for name, page in pages.items():
                page.goto(address)
                page.locator(".summary[data-status=completed]").wait_for()
                path = DOCS / f"local-{kind}-{name}.png"
                page.screenshot(path=str(path), full_page=name == "phone")
                print(f"wrote {path.relative_to(ROOT)}")
        browser.close()


if __name__ == "__main__":
    main()
