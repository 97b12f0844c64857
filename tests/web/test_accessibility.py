"""An accessibility scan of the main pages with axe-core (vendored: tests/vendor/axe.min.js,
from the npm package axe-core 4.14.1, MPL-2.0): no serious or critical violations, at
1280 px and at 390 px, and in the dark colour scheme.

Run on its own: ``.venv/bin/pytest -m browser tests/web/test_accessibility.py``.
The site's CSP refuses injected scripts, so the scanning context bypasses it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import ServerProcess, log_in, make_staff
from tests.conftest import offline_model

pytestmark = pytest.mark.browser

AXE = (Path(__file__).resolve().parent.parent / "vendor" / "axe.min.js").read_text()
VIEWPORTS = ({"width": 1280, "height": 900}, {"width": 390, "height": 844})
SERIOUS = ("serious", "critical")


def violations(page: Any) -> list[str]:
    """axe's serious and critical findings on the current page, one line each."""
    page.add_script_tag(content=AXE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def scan(page: Any, url: str, name: str, found: dict[str, list[str]]) -> None:
    """Light at both widths, then dark (prefers-color-scheme) at 1280 px."""
    for viewport, scheme in ((VIEWPORTS[0], "light"), (VIEWPORTS[1], "light"),
                             (VIEWPORTS[0], "dark")):
        page.set_viewport_size(viewport)
        page.emulate_media(color_scheme=scheme)
        page.goto(url)
        problems = violations(page)
        if problems:
            found[f"{name} at {viewport['width']}, {scheme}"] = problems


def make_starmap(page: Any, base_url: str) -> None:
    page.goto(base_url + "/starmap/")
    page.fill("#id_title", "Front desk starmap")
    page.fill("#id_organisation", "Northwind Health")
    page.fill("#id_industry", "Healthcare")
    page.select_option("#id_size", "50-249")
    page.fill("#id_roles_audiences", "Front-desk staff (120)\nTeam leads (15)")
    page.fill("#id_business_goals", "Raise patient satisfaction from 72% to 85%.")
    page.fill("#id_performance_gaps", "Staff do not know the new booking system.")
    page.fill("#id_timeline", "Pilot in Q1")
    page.click("#starmap-form button[name=generate]")


def test_the_main_pages_have_no_serious_or_critical_violations(
    chromium: Any, site: ServerProcess
) -> None:
    context = chromium.new_context(bypass_csp=True, viewport=VIEWPORTS[0])
    page = context.new_page()
    page.set_default_timeout(20_000)
    found: dict[str, list[str]] = {}
    # The report's section drafts stream slowly every time: it is still generating
    # when scanned. Starmaps have no stage of that name and finish at once.
    offline_model(page, "rate=400 faults=sections:slow:400")
    scan(page, site.url + "/accounts/login/", "login and landing", found)
    scan(page, site.url + "/accounts/signup/", "sign up", found)
    make_staff(site, "auditor")
    log_in(page, site.url, "auditor")
    scan(page, site.url + "/", "report list (empty)", found)
    scan(page, site.url + "/reports/new/", "new report", found)
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    job_url = page.url
    page.locator("li.stage-running").first.wait_for()
    scan(page, job_url, "report job page, generating", found)
    scan(page, site.url + "/", "report list", found)

    make_starmap(page, site.url)
    card = page.locator("article.job-card").first
    card.locator(".summary[data-status=completed]").wait_for(timeout=90_000)
    scan(page, site.url + "/starmap/", "starmap list", found)
    document = card.locator("a", has_text="Open report").get_attribute("href")
    scan(page, site.url + str(document), "document page", found)
    scan(page, site.url + "/settings/", "settings", found)
    scan(page, site.url + "/analytics/", "analytics (staff)", found)
    context.close()
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())

