"""In Chromium against a real server: edit a brief, fork from a middle stage, watch only
the later stages run, and find both versions on the job page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up
from tests.conftest import offline_model

pytestmark = pytest.mark.browser


def test_fork_from_a_middle_stage_runs_only_the_later_stages(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    offline_model(page, "rate=400")
    sign_up(page, site.url, "reviser")
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    job_url = page.url
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)

    page.goto(job_url)  # (the job page's actions are drawn for a finished stream)
    page.click("text=Change and rerun…")
    page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/fork/"))
    page.select_option("select[name=from_stage]", "recommendations")
    plan = page.locator("#fork-plan")
    expect(plan).to_contain_text("Kept as they are (4)")
    expect(plan.locator(".plan-rerun li")).to_have_text(
        ["Recommendations", "Executive summary", "Assemble the report"]
    )
    page.fill("#id_title", "Retention plan for the board")
    page.fill("#id_instructions", "Keep it to one page.")
    # The kept stages were written from the old title: the plan says so before the click.
    expect(plan.locator(".fork-stale")).to_contain_text("Rerun from Brief analysis")
    # The first rerun stage streams slowly, so "not yet" below is no race with the model.
    offline_model(page, "rate=400 faults=recommendations:slow:10")
    page.click("text=Rerun from this stage")

    page.wait_for_url(re.compile(r"/streams/[0-9a-f-]{36}/$"))
    stages = page.locator("ol.stages > li")
    # The four reused stages are done from the first paint; the rest are not yet.
    for i in range(4):
        expect(stages.nth(i)).to_have_class(re.compile("stage-completed"))
    assert page.locator("li.stage-completed").count() < 7
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
    assert errors == []  # none on the report page nor the stream page while generating
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=tmp_path / "fork-stream-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(job_url)
    versions = page.locator(".version-list > li")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text("v2 · Forked")
    expect(versions.nth(0)).to_contain_text("3 stages rerun")
    expect(versions.nth(1)).to_contain_text("v1 · Generated")
    page.screenshot(path=tmp_path / "fork-job-page.png", full_page=True)
    versions.nth(0).locator("text=What changed").click()
    expect(page.locator(".diff-view ins").first).to_be_visible()
    page.screenshot(path=tmp_path / "fork-diff.png", full_page=True)


def test_a_download_is_saved_under_its_title_in_any_script(
    browser_page: Any, site: ServerProcess
) -> None:
    """Issue 32: a Cyrillic title sent the header MIME-encoded and Chromium opened the
    file inline; a Latin-1 title went out as raw bytes."""
    page = browser_page
    sign_up(page, site.url, "namer")
    page.fill("#id_title", "Отчёт для Café")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
    page.goto(page.url)
    page.click("text=Open report")
    page.click("summary:has-text('Download')")
    names = []
    for label in ("Markdown", "Word"):
        with page.expect_download() as download:
            page.click(f".export-menu a:has-text('{label}')")
        names.append(download.value.suggested_filename)
    assert names == ["Отчёт-для-Café-v1.md", "Отчёт-для-Café-v1.docx"]
