"""In a browser: the settings page is one click from the navigation, and turning on
e-mail notices there sticks (a real server, a real form, no JavaScript needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up

pytestmark = pytest.mark.browser


def test_turn_on_email_notices_from_the_settings_page(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    sign_up(page, site.url, "notified")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.wait_for_url(re.compile(r"/settings/$"))
    box = page.get_by_label("E-mail me when one of my streams completes or fails")
    expect(box).not_to_be_checked()

    box.check()
    page.get_by_role("button", name="Save settings").click()
    # Opting in without an address is refused, with the reason next to the field.
    expect(page.get_by_role("alert")).to_contain_text("Give an e-mail address")

    page.get_by_label("E-mail address").fill("notified@example.com")
    page.get_by_label("E-mail me when one of my streams completes or fails").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved.")
    page.screenshot(path=tmp_path / "settings-1280.png", full_page=True)

    page.reload()
    expect(page.get_by_label("E-mail address")).to_have_value("notified@example.com")
    expect(
        page.get_by_label("E-mail me when one of my streams completes or fails")
    ).to_be_checked()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=tmp_path / "settings-390.png", full_page=True)
