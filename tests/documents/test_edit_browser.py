"""In Chromium against a real server: edit a finished report's section drafts by hand
and watch only the stages that read them run; change the client in "Change and rerun"
and be warned that kept stages name the old one, with a one-click rerun from the first.
Desktop and phone (390 px), with screenshots to look at."""

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
BY_HAND = "## Onboarding first\n\nRewritten by hand: churn starts in the first month."


def generated_report(page: Any, site: ServerProcess, username: str) -> str:
    """Sign up, generate a report and wait for it; returns the job page's address."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    offline_model(page, "rate=400")
    sign_up(page, site.url, username)
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
    assert errors == []
    return str(page.url)


def test_edit_a_stage_by_hand_reruns_only_what_reads_it(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    job_url = generated_report(page, site, "editor")
    page.goto(job_url)
    page.get_by_role("link", name="Edit Section drafts").click()
    page.wait_for_url(re.compile(r"/stages/sections/edit/$"))
    plan = page.locator("#edit-plan")
    expect(plan.locator(".plan-rerun li")).to_have_text(
        ["Recommendations", "Executive summary", "Assemble the report"])
    expect(plan.locator(".plan-reused li")).to_have_text(
        ["Brief analysis", "Context and assumptions", "Outline"])
    expect(plan).to_contain_text("Forecast: about")
    page.fill("#id_text", BY_HAND)
    page.screenshot(path=tmp_path / "edit-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # On a phone the plan comes first: read before the button is reached.
    save = page.get_by_role("button", name="Save and rerun 3 stages")
    assert plan.bounding_box()["y"] < save.bounding_box()["y"]
    page.screenshot(path=tmp_path / "edit-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.click("text=Save and rerun 3 stages")

    page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/$"))
    stages = page.locator("ol.stages > li")
    expect(stages.nth(3).locator(".stage-source")).to_have_text("edited")
    for i in range(3):
        expect(stages.nth(i).locator(".stage-source")).to_have_text("kept from v1")
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
    page.screenshot(path=tmp_path / "edited-stream-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=tmp_path / "edited-stream-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)

    page.goto(job_url)
    versions = page.locator(".version-list > li")
    expect(versions.nth(0)).to_contain_text("v2 · Edited")
    versions.nth(0).locator("a", has_text="v2").first.click()
    expect(page.locator(".doc-edited")).to_have_text("Section drafts")
    expect(page.locator("article.document")).to_contain_text("Rewritten by hand")


def test_a_fork_that_keeps_stages_naming_the_old_client_is_flagged(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    job_url = generated_report(page, site, "forker")
    page.goto(job_url)
    page.click("text=Change and rerun…")
    page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/fork/"))
    page.select_option("select[name=from_stage]", "sections")
    plan = page.locator("#fork-plan")
    expect(plan).to_contain_text("Kept as they are (3)")
    expect(plan.locator(".fork-stale")).to_have_count(0)
    page.fill("#id_client", "Globex Corporation")
    warning = plan.locator(".fork-stale")
    expect(warning).to_contain_text("would contradict itself")
    expect(warning.get_by_role("button")).to_have_text("Rerun from Brief analysis")
    page.screenshot(path=tmp_path / "fork-stale-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # On a phone the plan is below the form: the warning is next to the button too.
    page.locator("text=Rerun from this stage").scroll_into_view_if_needed()
    expect(page.locator("#fork-stale-note .notice")).to_be_in_viewport()
    page.screenshot(path=tmp_path / "fork-stale-phone.png")
    page.set_viewport_size(DESKTOP)
    warning.get_by_role("button").click()

    page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/$"))
    expect(page.locator(".stage-source")).to_have_count(0)  # nothing kept: all rerun
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
    page.goto(job_url)
    versions = page.locator(".version-list > li")
    versions.nth(0).locator("a", has_text="v2").first.click()
    document = page.locator("article.document")
    expect(document).to_contain_text("Globex Corporation")
    expect(document).not_to_contain_text("Acme Ltd")


def test_a_json_stage_is_edited_as_a_list(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    job_url = generated_report(page, site, "outliner")
    page.goto(job_url)
    page.get_by_role("link", name="Edit Outline").click()
    editor = page.locator(".stage-editor")
    items = editor.locator(".se-item")
    expect(page.locator("#id_text")).to_be_hidden()  # the form stands in for the JSON
    before = items.count()
    assert before >= 3
    second = items.nth(1).locator("input").first.input_value()
    items.nth(0).get_by_label("Title").fill("Where churn starts")
    page.get_by_role("button", name="Move Section 2 up").click()
    page.get_by_role("button", name=f"Remove Section {before}").click()
    page.get_by_role("button", name="Add section").click()
    expect(items).to_have_count(before)
    items.last.get_by_label("Title").fill("What to do on Monday")
    items.last.get_by_label("Purpose").fill("The first three steps.")
    page.screenshot(path=tmp_path / "edit-list-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=tmp_path / "edit-list-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name=re.compile("Save and rerun")).click()

    page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/$"))
    stream_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    outline = page.request.get(f"{site.url}/api/streams/{stream_id}/stages/outline/").json()
    titles = [section["title"] for section in outline["data"]]
    assert titles[0] == second and titles[1] == "Where churn starts"
    assert titles[-1] == "What to do on Monday" and len(titles) == before
    assert outline["source"] == "edited"


def test_the_edit_and_fork_pages_pass_an_accessibility_scan(
    chromium: Any, site: ServerProcess
) -> None:
    from tests.web.test_accessibility import VIEWPORTS, violations

    context = chromium.new_context(bypass_csp=True, viewport=DESKTOP)  # axe is injected
    page = context.new_page()
    page.set_default_timeout(20_000)
    job_url = generated_report(page, site, "auditor2")
    found: dict[str, list[str]] = {}
    page.goto(job_url)
    page.get_by_role("link", name="Edit Outline").click()
    edit_url = page.url
    page.click("text=Add section")  # the list editor, with an item just added
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        found[f"outline editor at {viewport['width']}"] = violations(page)
    page.goto(edit_url.replace("/outline/", "/summary/"))
    found["prose editor"] = violations(page)
    page.goto(job_url)
    page.click("text=Change and rerun…")
    page.select_option("select[name=from_stage]", "sections")
    page.fill("#id_client", "Globex Corporation")
    page.locator("#fork-plan .fork-stale").wait_for()
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        found[f"fork page, stale warning, at {viewport['width']}"] = violations(page)
    context.close()
    assert {k: v for k, v in found.items() if v} == {}
