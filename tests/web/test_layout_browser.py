"""What a person sees, at 1280 px and on a 390 px phone: long words wrap, tables scroll
in their own box, and no page is wider than the screen.

Run on its own: ``.venv/bin/pytest -m browser tests/web/test_layout_browser.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from devtools.servers import ServerProcess, log_in, make_staff, sign_up

pytestmark = pytest.mark.browser

LONG_TITLE = "Quarterly" + "x" * 191  # 200 characters, no space to break at
LONG_WORD = "https://example.com/" + "a" * 180
VIEWPORTS = ({"width": 1280, "height": 900}, {"width": 390, "height": 844})


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def overflowing(page: Any, selector: str) -> list[str]:
    """The elements matching ``selector`` whose content is wider than they are."""
    found = []
    for handle in page.locator(selector).element_handles():
        if handle.evaluate("el => el.scrollWidth > el.clientWidth + 1"):
            found.append(handle.evaluate("el => el.className"))
    return found


def test_a_long_title_and_a_long_word_fit_every_page_and_viewport(
    browser_page: Any, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "longwords")
    page.goto(site.url + "/reports/new/")
    page.fill("#id_title", LONG_TITLE)
    page.fill("#id_client", "C" * 200)
    page.fill("#id_objective", f"Read {LONG_WORD} first.")
    page.fill("#id_audience", "A" * 300)
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    job_url = page.url

    page.goto(site.url + "/starmap/")
    page.fill("#id_title", LONG_TITLE)
    page.fill("#id_organisation", "O" * 200)
    page.fill("#id_industry", "Healthcare")
    page.select_option("#id_size", "50-249")
    page.fill("#id_roles_audiences", "Nurses (40)")
    page.fill("#id_business_goals", LONG_WORD)
    page.fill("#id_performance_gaps", "New booking system.")
    page.fill("#id_timeline", "Q1")
    page.click("#starmap-form button:not([name=generate])")
    page.locator("article.job-card").first.wait_for()
    starmap_url = page.locator("article.job-card h2 a").first.get_attribute("href")

    pages = [job_url, site.url + "/", site.url + "/starmap/", site.url + starmap_url]
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        for url in pages:
            page.goto(url)
            assert page_width(page) <= viewport["width"], (url, viewport)
            assert overflowing(page, ".card, .brief, .page-head, .job-card") == [], url


def test_admin_lists_keep_a_long_title_to_one_short_cell(
    browser_page: Any, site: ServerProcess
) -> None:
    page = browser_page
    make_staff(site, "admin-longwords")
    log_in(page, site.url, "admin-longwords")
    page.goto(site.url + "/reports/new/")
    page.fill("#id_title", LONG_TITLE)
    page.fill("#id_client", "Acme")
    page.fill("#id_objective", "Plan.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    for path in ("/admin/reports/streamingjob/", "/admin/reports/reportjob/"):
        page.goto(site.url + path)
        cell = page.locator("#result_list tbody tr", has_text="Quarterly").first
        title = cell.locator("th, td").filter(has_text="Quarterly").first
        box = title.bounding_box()
        assert box is not None and box["width"] < 320, (path, box)
        row = cell.bounding_box()
        assert row is not None and row["height"] < 60, (path, row)  # one line, not a column


def test_a_starmap_document_s_tables_scroll_in_their_box_on_a_phone(
    browser_page: Any, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "tables")
    page.goto(site.url + "/starmap/")
    page.fill("#id_title", "Front desk starmap")
    page.fill("#id_organisation", "Northwind Health")
    page.fill("#id_industry", "Healthcare")
    page.select_option("#id_size", "50-249")
    page.fill("#id_roles_audiences", "Front-desk staff (120)\nTeam leads (15)")
    page.fill("#id_business_goals", "Raise patient satisfaction from 72% to 85% by year end.")
    page.fill("#id_performance_gaps", "Staff do not know the new booking system.")
    page.fill("#id_timeline", "Pilot in Q1")
    page.click("#starmap-form button[name=generate]")
    card = page.locator("article.job-card").first
    card.locator(".summary[data-status=completed]").wait_for(timeout=90_000)
    card.locator("text=Open report").click()
    page.wait_for_url(re.compile(r"/documents/"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator("article table").count() >= 1
    assert page_width(page) <= 390
    box = page.locator("article .table-scroll").first
    assert box.evaluate("el => getComputedStyle(el).overflowX") == "auto"
    # Every table is in a box; what does not fit scrolls there, not the page.
    assert page.locator("article .table-scroll > table").count() == page.locator(
        "article table"
    ).count()
