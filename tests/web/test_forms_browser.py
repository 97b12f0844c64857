"""Forms in a browser: a live counter instead of silently cut text; a starmap created from
the cards page closes the form and brings its new card into view.

Run on its own: ``.venv/bin/pytest -m browser tests/web/test_forms_browser.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up

pytestmark = pytest.mark.browser


def test_over_long_text_is_kept_and_the_counter_says_by_how_much(
    browser_page: Any, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "counter")
    page.goto(site.url + "/reports/new/")
    expect(page.locator("#id_title-counter")).to_have_text("0 / 200")
    page.fill("#id_title", "t" * 210)
    assert len(page.input_value("#id_title")) == 210  # not cut by the browser
    expect(page.locator("#id_title-counter")).to_have_text("210 / 200: 10 too many, shorten it")
    expect(page.locator("#id_title-counter")).to_have_class("counter over")
    page.fill("#id_title", "t" * 200)
    expect(page.locator("#id_title-counter")).to_have_text("200 / 200")
    page.fill("#id_title", "t" * 250)
    page.fill("#id_client", "Acme")
    page.fill("#id_objective", "Plan.")
    page.click("button[name=generate]")
    expect(page.locator(".has-error .error")).to_have_text(
        "Ensure this value has at most 200 characters (it has 250)."
    )


@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)])
def test_create_and_generate_closes_the_form_and_shows_the_new_card(
    browser_page: Any, site: ServerProcess, viewport: tuple[int, int]
) -> None:
    page = browser_page
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_up(page, site.url, f"planner-{viewport[0]}")
    page.goto(site.url + "/starmap/")
    form = page.locator("details.new-starmap")
    expect(form).to_have_attribute("open", "")
    page.fill("#id_title", "Front desk starmap")
    page.fill("#id_organisation", "Northwind Health")
    page.fill("#id_industry", "Healthcare")
    page.select_option("#id_size", "50-249")
    page.fill("#id_roles_audiences", "Front-desk staff (120)")
    page.fill("#id_business_goals", "Raise patient satisfaction from 72% to 85%.")
    page.fill("#id_performance_gaps", "Staff do not know the new booking system.")
    page.fill("#id_timeline", "Pilot in Q1")
    page.click("#starmap-form button[name=generate]")
    card = page.locator("article.job-card", has_text="Front desk starmap")
    expect(card).to_be_focused()
    expect(card).to_be_in_viewport()
    expect(form).not_to_have_attribute("open", "")
    # The form comes back fresh when opened again.
    form.locator("> summary").click()
    expect(page.locator("#id_title")).to_have_value("")
