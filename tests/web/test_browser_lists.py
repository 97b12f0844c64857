"""In Chromium against a real server: search the list, duplicate a report, delete one
after confirming, then read the document (contents, Copy Markdown, print); nothing is
wider than a 390 px phone.

Run on its own: ``.venv/bin/pytest -m browser tests/web/test_browser_lists.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up
from tests.conftest import offline_model

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def create_report(page: Any, base_url: str, title: str) -> None:
    page.goto(base_url + "/reports/new/")
    page.fill("#id_title", title)
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("text=Save without generating")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))


def card(page: Any, title: str) -> Any:
    return page.locator("article.job-card", has=page.get_by_role("link", name=title, exact=True))


def fits(page: Any, path: str, shot: Path) -> None:
    """At phone width nothing makes the page scroll sideways; a screenshot to look at."""
    page.set_viewport_size(PHONE)
    page.goto(path)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
    page.screenshot(path=shot, full_page=True)
    page.set_viewport_size(DESKTOP)


def test_search_duplicate_delete_and_read_the_document(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    offline_model(page, "rate=3000")
    sign_up(page, site.url, "lister")
    create_report(page, site.url, "Retention plan")
    create_report(page, site.url, "Pricing review")

    # Search by title, and filter by status.
    page.goto(site.url + "/")
    page.fill("#list-q", "retention")
    page.click(".list-filter button[type=submit]")
    page.wait_for_url(re.compile(r"\?q=retention"))
    expect(page.locator("article.job-card")).to_have_count(1)
    expect(card(page, "Retention plan")).to_have_count(1)
    page.goto(site.url + "/?status=completed")
    expect(page.get_by_text("No reports match")).to_be_visible()

    # Duplicate: a copy, not generated, on its own page.
    page.goto(site.url + "/")
    pricing = card(page, "Pricing review")
    pricing.get_by_text("More").click()
    pricing.get_by_role("button", name="Duplicate Pricing review").click()
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    expect(page.locator("h1")).to_have_text("Pricing review (copy)")
    expect(page.locator(".flash")).to_contain_text("Nothing is generated until you press")
    page.goto(site.url + "/")
    expect(page.locator("article.job-card")).to_have_count(3)
    expect(card(page, "Pricing review (copy)")).to_contain_text("Not generated yet")

    # Delete asks first; keeping it changes nothing, confirming removes it.
    copy = card(page, "Pricing review (copy)")
    copy.get_by_text("More").click()
    page.screenshot(path=tmp_path / "card-menu-1280.png")
    copy.get_by_role("link", name="Delete Pricing review (copy)").click()
    expect(page.get_by_role("heading", name="Delete “Pricing review (copy)”?")).to_be_visible()
    page.screenshot(path=tmp_path / "delete-confirm-1280.png")
    page.click("text=Keep it")
    expect(page.locator("article.job-card")).to_have_count(3)
    copy.get_by_text("More").click()
    copy.get_by_role("link", name="Delete Pricing review (copy)").click()
    confirm_url = page.url
    fits(page, confirm_url, tmp_path / "delete-confirm-390.png")
    page.goto(confirm_url)
    page.get_by_role("button", name="Delete report").click()
    page.wait_for_url(site.url + "/")
    expect(page.locator(".flash")).to_contain_text("Deleted “Pricing review (copy)”.")
    expect(page.locator("article.job-card")).to_have_count(2)
    page.screenshot(path=tmp_path / "list-1280.png", full_page=True)
    fits(page, site.url + "/?q=plan", tmp_path / "list-390.png")
    fits(page, site.url + "/starmap/", tmp_path / "starmaps-390.png")

    # Generate one, and read it.
    page.goto(site.url + "/")
    card(page, "Retention plan").get_by_role("button", name="Generate Retention plan").click()
    open_report = card(page, "Retention plan").get_by_role("link", name="Open report")
    open_report.wait_for(timeout=60_000)
    open_report.click()
    page.wait_for_url(re.compile(r"/documents/"))
    document_url = page.url
    expect(page.locator("h1")).to_have_count(1)
    toc = page.locator(".toc")
    expect(toc).to_be_visible()
    first = toc.locator("a").first
    anchor = str(first.get_attribute("href"))
    assert page.locator(f"article.document {anchor}").count() == 1
    # Desktop: the contents sit in the right-hand column, beside the document.
    article_box = page.locator("article.document").bounding_box()
    toc_box = toc.bounding_box()
    assert toc_box["x"] > article_box["x"] + article_box["width"] - 1
    page.screenshot(path=tmp_path / "document-1280.png")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page.get_by_role("button", name="Copy Markdown").click()
    expect(page.locator(".copy-status")).to_have_text("Copied the Markdown to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("# Retention plan")
    assert copied == page.locator("#document-markdown").input_value()

    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.locator(".page-head .actions")).to_be_hidden()
    expect(page.locator(".toc")).to_be_hidden()
    expect(page.locator("article.document")).to_be_visible()
    page.emulate_media(media="screen")

    fits(page, document_url, tmp_path / "document-390.png")
    page.set_viewport_size(PHONE)
    page.goto(document_url)
    # Phone: the contents come first, folded, above the document.
    toc_box = page.locator(".toc").bounding_box()
    assert toc_box["y"] < page.locator("article.document").bounding_box()["y"]
    assert page.locator(".toc").get_attribute("open") is None
    page.screenshot(path=tmp_path / "document-390.png")
    assert errors == []
