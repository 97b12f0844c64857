"""Two starmap cards generating at once on one page, over one socket, to completion.

Run on its own: ``.venv/bin/pytest -m browser tests/starmap``. A real Daphne server
(embedded mode, offline model at a rate of ~10 s per starmap, its own SQLite file)
and Debian's Chromium through Playwright.
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

BRIEF = {
    "#id_organisation": "Northwind Health",
    "#id_industry": "Healthcare",
    "#id_timeline": "Pilot in Q1, all staff by Q3",
    "#id_roles_audiences": "Front-desk staff (120)\nTeam leads (15)",
    "#id_business_goals": "Raise patient satisfaction from 72% to 85% by year end.",
    "#id_performance_gaps": "Staff do not know the new booking system.\n"
    "Complaints are escalated too late.",
}


def create_starmap(page: Any, title: str) -> str:
    """Fill the short form on the cards page; return the new card's id."""
    cards = page.locator("article.job-card")
    before = cards.count()
    form = page.locator("details.new-starmap")
    if form.get_attribute("open") is None:  # closed after the last card was made
        form.locator("> summary").click()
        expect(page.locator("#id_title")).to_be_visible()
    page.fill("#id_title", title)
    for selector, value in BRIEF.items():
        page.fill(selector, value)
    page.select_option("#id_size", "1000-4999")
    page.click("#starmap-form button:not([name=generate])")
    cards.nth(before).wait_for()
    card = page.locator("article.job-card", has_text=title)
    card.wait_for()
    assert page.input_value("#id_title") == ""  # a fresh form came back with the card
    # The form closes once the card has settled (a moment after the card appears).
    expect(page.locator("details.new-starmap[open]")).to_have_count(0)
    return str(card.get_attribute("id"))


def test_two_cards_generate_at_once_and_complete_live(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    errors: list[str] = []  # e.g. htmx:oobErrorNoTarget for fragments the page cannot show
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    offline_model(page, "rate=110")
    sign_up(page, site.url, "two-cards")
    page.goto(site.url + "/starmap/")
    page.evaluate("window.__sameDocument = true")

    first = create_starmap(page, "Front desk starmap")
    second = create_starmap(page, "Complaints starmap")
    for card_id in (first, second):
        page.click(f"#{card_id} button:has-text('Generate')")

    # Both run at the same time, each on its own card...
    # (locator waits: a predicate string is eval, which the strict CSP refuses)
    expect(page.locator(".job-card .summary[data-status=running]")).to_have_count(2)
    for card_id in (first, second):
        assert page.locator(f"#{card_id} [role=progressbar]").count() == 1
        assert not page.locator(f"#{card_id} .when-idle").is_visible()  # no Generate now
    # ...and both reach completed live, without a reload.
    for card_id in (first, second):
        page.locator(f"#{card_id} .summary[data-status=completed]").wait_for(timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True
    live = [url for url in sockets if "/ws/live/" in url]
    assert len(live) == 1, live  # one socket for the page, not one per card
    assert errors == []  # no console error while both generated

    for card_id in (first, second):
        card = page.locator(f"#{card_id}")
        assert card.locator(".badge").inner_text() == "Completed"
        assert card.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
        assert card.locator("text=Open report").is_visible()
        assert card.locator("button:has-text('Regenerate')").is_visible()
    page.screenshot(path=tmp_path / "starmap-cards.png", full_page=True)

    page.click(f"#{first} >> text=Open report")
    page.wait_for_url(re.compile(r"/documents/"))
    document = page.locator("article.document")
    assert document.locator("h1").inner_text() == "Front desk starmap"
    assert "Learning objectives" in document.inner_text()


@pytest.mark.parametrize("width", [1280, 390])
def test_no_placeholder_of_the_form_is_cut_off(
    browser_page: Any, site: ServerProcess, width: int
) -> None:
    """Issue 31, item 20: the title's placeholder was cut off at 1280 px."""
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    sign_up(page, site.url, f"placeholders-{width}")
    page.goto(site.url + "/starmap/")
    cut = page.evaluate(
        """() => [...document.querySelectorAll('#starmap-form input[placeholder]')]
          .filter((e) => e.offsetParent !== null)
          .filter((e) => {
            const s = getComputedStyle(e), c = document.createElement('canvas').getContext('2d');
            c.font = s.font;
            const room = e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
            return c.measureText(e.placeholder).width > room;
          }).map((e) => e.name)"""
    )
    assert cut == []
