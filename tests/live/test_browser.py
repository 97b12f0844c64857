"""The running stage's box in a browser: rendered text that it follows, Jump to latest,
a JSON stage as a list, and no console errors while a report generates.

Run on its own: ``.venv/bin/pytest -m browser tests/live``. A real Daphne server
(embedded mode, offline model; the outline and section stages slowed down so they can
be watched) and Debian's Chromium through Playwright.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.servers import ServerProcess, sign_up
from tests.conftest import offline_model, wait_for

pytestmark = pytest.mark.browser

AT_BOTTOM = "e => e.scrollHeight - e.scrollTop - e.clientHeight < 24"


def test_the_running_stage_reads_rendered_and_follows_its_text(
    browser_page: Any, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    faults = "outline:slow:6,sections:slow:10"
    offline_model(page, f"rate=150 faults={faults}")
    sign_up(page, site.url, "reader")
    page.wait_for_url(re.compile(r"/reports/new/$"))
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    sid = page.get_attribute("[data-page-stream]", "data-page-stream")

    # A JSON stage, still running, reads as a list of sections, not as JSON.
    outline = page.locator(f"li#stage-{sid}-outline.stage-running .stage-output")
    outline.locator("ul > li > strong").first.wait_for(timeout=30_000)
    assert "{" not in outline.inner_text() and '"title"' not in outline.inner_text()

    # Markdown, still running, reads rendered: headings and bold, no markup.
    box = page.locator(f"li#stage-{sid}-sections.stage-running .stage-output")
    box.locator("h2").first.wait_for(timeout=30_000)
    text = box.inner_text()
    assert "**" not in text and "##" not in text
    assert box.evaluate("e => e.tagName") == "DIV"

    # Once it overflows, the box stays on its newest text as it grows.
    wait_for(lambda: box.evaluate("e => e.scrollHeight > e.clientHeight + 60"), 30)
    height = box.evaluate("e => e.scrollHeight")
    wait_for(lambda: box.evaluate("e => e.scrollHeight") > height, 30)
    assert box.evaluate(AT_BOTTOM)
    jump = page.locator(f'[data-jump-to="stage-{sid}-sections-output"]')
    assert jump.is_hidden()

    # The reader scrolls up: the box stays where they are, and offers the way back.
    box.hover()
    page.mouse.wheel(0, -2000)
    expect(jump).to_be_visible()
    top = box.evaluate("e => e.scrollTop")
    height = box.evaluate("e => e.scrollHeight")
    wait_for(lambda: box.evaluate("e => e.scrollHeight") > height, 30)
    assert box.evaluate("e => e.scrollTop") == top
    assert not box.evaluate(AT_BOTTOM)
    page.screenshot(path=tmp_path / "live-text-1280.png")

    jump.click()
    assert box.evaluate(AT_BOTTOM)
    expect(jump).to_be_hidden()
    height = box.evaluate("e => e.scrollHeight")
    wait_for(lambda: box.evaluate("e => e.scrollHeight") > height, 30)
    assert box.evaluate(AT_BOTTOM)  # following again

    page.set_viewport_size({"width": 390, "height": 844})
    box.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "live-text-390.png")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390

    page.locator("li.stage-completed").nth(6).wait_for(timeout=90_000)
    # A finished JSON stage shows its data as a list too.
    page.click(f"#stage-{sid}-outline summary")
    done = page.locator(f"#stage-{sid}-outline .stage-done .prose")
    assert done.locator("ul > li > strong").count() == 4
    assert errors == []


def test_a_page_whose_access_is_revoked_reloads_to_the_login_page(
    browser_page: Any, site: ServerProcess
) -> None:
    """Issue 32: a live page kept receiving events after its user's password changed in
    another process. Its socket is closed with 4401 and the page reloads: the user's own
    password change (this browser's session moves on) brings the page back, live; a
    change made elsewhere brings the login page."""
    import subprocess
    import sys

    from devtools.servers import PASSWORD, ROOT

    page = browser_page
    offline_model(page, "rate=50 faults=brief:slow:60")
    sign_up(page, site.url, "revoked")
    page.fill("#id_title", "Retention plan")
    page.fill("#id_client", "Acme Ltd")
    page.fill("#id_objective", "Reduce churn by 20% within a year.")
    page.click("button[name=generate]")
    page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
    job_url = page.url
    expect(page.locator(".stage-running").first).to_be_visible(timeout=20_000)

    # The user's own password change, in another tab of this browser.
    page.evaluate("window.beforeTheChange = true")  # a reload forgets it
    other = page.context.new_page()
    other.goto(site.url + "/accounts/password_change/")
    other.fill("#id_old_password", PASSWORD)
    other.fill("#id_new_password1", "a-second-passphrase-42")
    other.fill("#id_new_password2", "a-second-passphrase-42")
    other.click("[type=submit]")
    other.wait_for_url(re.compile(r"/password_change/done/"))
    other.close()
    # The reload brings the same page back, from the new session: still live.
    page.wait_for_function("() => !window.beforeTheChange && document.readyState"
                           " === 'complete'", timeout=20_000)
    assert page.url == job_url
    expect(page.locator(".stage-running").first).to_be_visible(timeout=20_000)

    # A change made elsewhere: another process sets a new password.
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.contrib.auth.models import User; u = User.objects.get("
         "username='revoked'); u.set_password('set-by-an-admin-99'); u.save()"],
        cwd=ROOT, env=site.env, check=True, capture_output=True, timeout=60,
    )
    page.wait_for_url(re.compile(r"/accounts/login/"), timeout=20_000)


def test_the_countdown_never_sits_on_a_number_when_a_stage_overruns(
    browser_page: Any, site: ServerProcess
) -> None:
    """Issue 31, item 2: "~2 s" stayed up for 13 s while a slow stage ran."""
    page = browser_page
    sign_up(page, site.url, "countdown")
    page.evaluate(
        """() => {
          for (const [eta, floor] of [["0.2", "12"], ["0.2", "0"]]) {
            const dd = document.createElement("dd");
            dd.dataset.eta = eta;
            dd.dataset.etaFloor = floor;
            dd.className = "countdown-probe";
            document.body.append(dd);
          }
        }"""
    )
    probes = page.locator(".countdown-probe")
    expect(probes.nth(0)).to_have_text("~12 s after this stage")
    expect(probes.nth(1)).to_have_text("finishing this stage")
