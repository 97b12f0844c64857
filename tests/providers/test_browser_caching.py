"""The progress card shows cached tokens and what caching saved, in a browser, for a
stream on a real local OpenAI-compatible server that reports cached tokens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools.llm_servers import OpenAIServer
from devtools.servers import embedded_server, sign_up

pytestmark = pytest.mark.browser


def test_the_card_shows_cached_tokens_and_the_saving(browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    model = OpenAIServer(tokens_in=2000, tokens_out=300, tokens_cached=1500).start()
    try:
        with embedded_server(LLM_PROVIDER="openai", OPENAI_BASE_URL=model.base_url,
                             OPENAI_API_KEY="sk-test-browser-0123456789",
                             LLM_MODEL="gpt-4o-mini") as server:
            sign_up(page, server.url, "cacher")
            page.fill("#id_title", "Retention plan")
            page.fill("#id_client", "Acme Ltd")
            page.fill("#id_objective", "Reduce churn by 20% within a year.")
            page.click("button[name=generate]")
            page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}/$"))
            page.locator("li.stage-completed").nth(6).wait_for(timeout=60_000)
            # The live card and a reload agree: 6 model stages x 1,500 cached tokens.
            page.reload()
            summary = page.locator(".summary")
            expect(summary.locator(".tokens-cached")).to_have_text("9,000 cached")
            # 1,500 x ($0.15 - $0.075) per million per stage: $0.0001125, kept in whole
            # micro-dollars like every cost ($0.000112); six stages: $0.000672.
            expect(summary.locator(".cache-saving")).to_have_text("($0.00067 saved by caching)")
            expect(page.locator("li.stage .stage-tokens").first).to_contain_text("1,500 cached")
            page.set_viewport_size({"width": 1280, "height": 900})
            page.screenshot(path=tmp_path / "card-cached-1280.png", full_page=False)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=tmp_path / "card-cached-390.png", full_page=False)
    finally:
        model.stop()
