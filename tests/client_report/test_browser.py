"""The whole loop in a browser: sign up, create a report, Generate, watch it, read it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up
from tests.conftest import offline_model

pytestmark = pytest.mark.browser


def test_sign_up_generate_and_watch_a_report_complete_live(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    offline_model(page, "rate=400")
    sign_up(page, site.url, "newcomer")
    page.wait_for_url(re.compile(r"/reports/new/$"))

    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    page_url = page.url

    stages = page.locator("ol.stages > li")
    assert stages.count() == 7
    # Stages turn completed over the socket, with no reload. (Whether a stage is
    # caught "running" depends on timing: at 400 tokens/s a stage lasts ~1 s.)
    assert page.locator("li.stage-completed").count() < 7
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
    assert page.url == page_url
    assert page.locator(".summary .badge").inner_text() == "Completed"
    assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
    expect(page).to_have_title(re.compile(r"^✓ Ready - Retention plan"), timeout=5_000)

    page.click("text=Open report")
    page.wait_for_url(re.compile(r"/documents/"))
    assert page.locator("article.document h1").inner_text() == "Retention plan"
    assert "Offline draft" in page.locator("article.document").inner_text()
    page.screenshot(path=tmp_path / "report-page.png", full_page=False)
