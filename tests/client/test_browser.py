"""The JavaScript client (static/js/streaming-report.js) in Chromium against a real server.

The client is loaded by a bare page on the server's origin (served by Playwright, so the
tests may call into it); the example page at /dev/client/ is tested as users see it,
under the site's CSP.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, WebSocketRoute, expect

from devtools.servers import ROOT, ServerProcess, sign_up
from tests.conftest import offline_model

pytestmark = pytest.mark.browser

STAGES = ["brief", "context", "outline", "sections", "recommendations", "summary", "assembly"]
INPUT = {"title": "Retention plan", "client": "Acme Ltd", "objective": "Reduce churn by 20%."}
# Fast enough to finish in seconds, slow enough that each stage streams for a while.
RATE = "300"

HARNESS = """<!doctype html><meta charset="utf-8"><title>client harness</title>
<script type="module">
import { createStreamingReport } from "/static/js/streaming-report.js";
// A proxy that refuses WebSocket upgrades: every connection fails before it opens.
class RefusedWebSocket {
  constructor() { setTimeout(() => this.onclose && this.onclose({ code: 1006 }), 0); }
  send() {}
  close() {}
}
window.makeClient = (options, refuseWebSockets = false) => {
  if (refuseWebSockets) window.WebSocket = RefusedWebSocket;
  const log = { stages: [], data: {}, completed: [], errors: [], progress: 0 };
  window.log = log;
  window.client = createStreamingReport({ ...options,
    onProgress: () => { log.progress += 1; },
    onStageComplete: (stage, data) => { log.stages.push(stage.key); log.data[stage.key] = data; },
    onComplete: (report) => { log.completed.push(report.id); },
    onError: (error) => { log.errors.push(error.code + ": " + error.message); },
  });
  return true;
};
window.harnessReady = true;
</script>"""

STATE = """() => ({
  reportId: client.reportId, streamId: client.streamId, status: client.status,
  progress: client.progress, error: client.error, report: client.report,
  stages: client.stages.map((s) => [s.key, s.status]),
  outputs: Object.fromEntries(client.stages.map((s) => [s.key, s.output])),
  isGenerating: client.isGenerating(), isCompleted: client.isCompleted(),
  isFailed: client.isFailed(), transport: client.transport, reconnects: client.reconnects,
})"""


def open_harness(
    page: Page,
    base_url: str,
    refuse_websockets: bool = False,
    model: str = f"rate={RATE}",
    **options: Any,
) -> None:
    offline_model(page, model)
    page.route(
        base_url + "/harness/",
        lambda route: route.fulfill(status=200, content_type="text/html", body=HARNESS),
    )
    page.goto(base_url + "/harness/")
    page.wait_for_function("() => window.harnessReady === true")
    page.evaluate("([o, refuse]) => window.makeClient(o, refuse)", [options, refuse_websockets])


def generate(page: Page) -> dict[str, Any]:
    """Generate a report; the state the moment the call resolves."""
    return dict(page.evaluate(
        """(input) => client.generateReport("report", input).then((snapshot) => ({
          streamId: snapshot.stream_id, status: client.status,
          isGenerating: client.isGenerating(), isCompleted: client.isCompleted(),
          brief: client.getStageStatus("brief"),
        }))""",
        INPUT,
    ))


def wait_until(page: Page, condition: str, timeout: float = 60_000) -> None:
    page.wait_for_function(condition, timeout=timeout)


def api(page: Page, base_url: str, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = page.request.get(base_url + path, headers=headers)
    assert response.ok, response.text()
    return response.json()


def create_token(site: ServerProcess, username: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", username],
        cwd=ROOT, env=site.env, check=True, capture_output=True, text=True,
    )
    return done.stdout.strip()


def assert_matches_server(page: Page, base_url: str, state: dict[str, Any],
                          token: str | None = None) -> None:
    """Every stage's text and data in the client are the server's."""
    stream_id = state["streamId"]
    for key in STAGES:
        detail = api(page, base_url, f"/api/streams/{stream_id}/stages/{key}/", token)
        assert state["outputs"][key] == detail["output"], key
        data = page.evaluate("(key) => client.getStageData(key)", key)
        assert data == (detail["data"] if detail["data"] is not None else detail["output"]), key


def test_generate_and_watch_to_completion_with_every_helper(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "watcher")
    open_harness(page, site.url)
    before = page.evaluate("""() => ({status: client.status, generating: client.isGenerating(),
      stage: client.getStageStatus("brief"), data: client.getStageData("brief")})""")
    assert before == {"status": "idle", "generating": False, "stage": None, "data": None}

    started = generate(page)
    assert started["isGenerating"] and not started["isCompleted"]
    assert started["status"] in {"pending", "running"}
    assert started["brief"] in {"pending", "running"}

    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    snapshot = api(page, site.url, f"/api/streams/{state['streamId']}/")
    assert state["status"] == "completed" == snapshot["status"]
    assert state["progress"] == 100
    assert (state["isGenerating"], state["isCompleted"], state["isFailed"]) == (False, True, False)
    assert state["reportId"] == snapshot["report_id"] == state["report"]["id"]
    assert state["report"]["title"] == "Retention plan" and state["report"]["markdown"]
    assert state["error"] is None
    assert state["stages"] == [[key, "completed"] for key in STAGES]
    assert state["transport"] == "websocket" and state["reconnects"] == 0
    log = page.evaluate("() => window.log")
    assert log["stages"] == STAGES  # each stage announced once, in order
    assert log["completed"] == [state["reportId"]] and log["errors"] == []
    assert log["progress"] > len(STAGES)  # live events, not just the end
    assert isinstance(log["data"]["brief"], dict) and "objective" in log["data"]["brief"]
    assert isinstance(log["data"]["outline"], list)
    assert_matches_server(page, site.url, state)
    for key in STAGES:
        assert page.evaluate("(key) => client.getStageStatus(key)", key) == "completed"
    assert page.evaluate("() => client.getStageStatus('no-such-stage')") is None

    # Regenerate the same job: a new stream, the state starts over, the job stays.
    first = state
    again = page.evaluate("""() => client.generateReport("report", { jobId: client.jobId })
      .then((snapshot) => ({ streamId: snapshot.stream_id, mine: client.streamId,
        jobId: client.jobId, reportId: client.reportId, report: client.report }))""")
    assert again["streamId"] == again["mine"] != first["streamId"]
    assert again["jobId"] == snapshot["job_id"]
    assert again["reportId"] is None and again["report"] is None
    wait_until(page, "() => window.log.completed.length === 2")
    state = page.evaluate(STATE)
    assert state["isCompleted"] and state["reportId"] not in (None, first["reportId"])
    assert page.evaluate("() => window.log.stages") == STAGES + STAGES


def test_cancel_then_resume_keeps_the_finished_stages(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "canceller")
    open_harness(page, site.url)
    generate(page)
    wait_until(page, "() => window.log.stages.includes('brief')")
    page.evaluate("() => client.cancelReport()")
    wait_until(page, "() => client.status === 'cancelled'")
    state = page.evaluate(STATE)
    assert (state["isGenerating"], state["isCompleted"], state["isFailed"]) == (False, False, False)
    assert dict(state["stages"])["brief"] == "completed"
    assert dict(state["stages"])["assembly"] == "pending"
    assert page.evaluate("() => window.log.completed") == []

    page.evaluate("() => client.resumeReport()")
    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    assert state["status"] == "completed" and state["isCompleted"]
    assert page.evaluate("() => window.log.stages") == STAGES  # brief not announced twice
    brief = api(page, site.url, f"/api/streams/{state['streamId']}/stages/brief/")
    assert brief["attempts"] == 1  # kept, never run again
    assert_matches_server(page, site.url, state)


def test_a_dropped_socket_reconnects_without_losing_a_stage(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    routes: list[WebSocketRoute] = []
    cut = {"on": False}

    def handler(ws: WebSocketRoute) -> None:
        if cut["on"]:  # the network is down: the connection ends at once
            ws.close(code=4000, reason="network down")
            return
        ws.connect_to_server()
        routes.append(ws)

    def network(route: Route) -> None:  # the client's HTTP catch-up is cut off too
        if cut["on"]:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route_web_socket(re.compile(r"/ws/streams/"), handler)
    page.route(re.compile(r"/api/"), network)
    sign_up(page, site.url, "commuter")
    open_harness(page, site.url, reconnect={"minDelay": 50, "maxDelay": 200})
    stream_id = generate(page)["streamId"]
    wait_until(page, "() => window.log.stages.includes('brief')")

    cut["on"] = True
    routes[-1].close(code=4000, reason="network down")
    # Once the client has seen the close, nothing more reaches it from the old socket.
    wait_until(page, "() => client.reconnects >= 1")
    # What the client knew when the network went: the next stage is one it has not seen
    # (on a slow machine a short stage may have finished before the cut).
    known = page.evaluate("() => window.log.stages")
    assert known == STAGES[: len(known)] and len(known) < len(STAGES)
    missed = STAGES[len(known)]
    # While the client is cut off, the server finishes that stage.
    deadline_checks = 0
    while api(page, site.url, f"/api/streams/{stream_id}/stages/{missed}/")["status"] != (
        "completed"
    ):
        deadline_checks += 1
        assert deadline_checks < 2000, f"{missed} never completed"
        page.wait_for_timeout(20)
    assert missed not in page.evaluate("() => window.log.stages")

    cut["on"] = False
    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    assert state["reconnects"] >= 1 and len(routes) >= 2
    assert page.evaluate("() => window.log.stages") == STAGES
    assert state["stages"] == [[key, "completed"] for key in STAGES]
    assert_matches_server(page, site.url, state)


def test_bearer_token_mode_without_a_session(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "robot")
    token = create_token(site, "robot")
    page.context.clear_cookies()  # from here on only the token says who this is
    open_harness(page, site.url, token=token)
    stream_id = generate(page)["streamId"]
    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    assert state["transport"] == "websocket" and state["reconnects"] == 0
    assert page.evaluate("() => window.log.stages") == STAGES
    assert page.evaluate("() => window.log.errors") == []
    assert_matches_server(page, site.url, state, token)
    assert page.context.cookies() == []
    # The session-less page could not have used one.
    assert page.request.get(f"{site.url}/api/streams/{stream_id}/").status == 401

    # Another client follows the finished stream: every stage and the document arrive.
    page.evaluate("() => client.close()")
    page.evaluate("([o, r]) => window.makeClient(o, r)", [{"token": token}, False])
    page.evaluate("(id) => client.watch(id)", stream_id)
    wait_until(page, "() => window.log.completed.length === 1")
    assert page.evaluate("() => window.log.stages") == STAGES
    assert page.evaluate("() => client.reportId") == state["reportId"]


def test_server_sent_events_carry_the_same_stream(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "proxied")
    token = create_token(site, "proxied")
    page.context.clear_cookies()
    open_harness(page, site.url, token=token, transport="sse")
    generate(page)
    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    assert state["transport"] == "sse"
    assert page.evaluate("() => window.log.stages") == STAGES
    assert_matches_server(page, site.url, state, token)


def test_where_websockets_are_refused_sse_takes_over(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "behindproxy")
    open_harness(page, site.url, refuse_websockets=True, reconnect={"minDelay": 50})
    generate(page)
    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    assert state["transport"] == "sse"
    assert state["reconnects"] == 2  # two refused WebSockets, then SSE for good
    assert page.evaluate("() => window.log.stages") == STAGES
    assert_matches_server(page, site.url, state)


def test_a_seq_gap_asks_for_a_fresh_snapshot(browser_page: Page, site: ServerProcess) -> None:
    page = browser_page
    asked: list[str] = []
    dropped: list[dict[str, Any]] = []

    def handler(ws: WebSocketRoute) -> None:
        server_side = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            # Lose one event on the way, as a full channel layer would.
            if not dropped and frame.get("type") == "stage.completed" and (
                frame.get("stage") == "context"
            ):
                dropped.append(frame)
                return
            ws.send(message)

        def from_page(message: str | bytes) -> None:
            asked.append(str(message))
            server_side.send(message)

        server_side.on_message(from_server)
        ws.on_message(from_page)

    page.route_web_socket(re.compile(r"/ws/streams/"), handler)
    sign_up(page, site.url, "gapped")
    open_harness(page, site.url)
    generate(page)
    wait_until(page, "() => window.log.completed.length === 1")
    assert len(dropped) == 1
    assert asked == ['{"type":"snapshot"}']
    state = page.evaluate(STATE)
    assert state["reconnects"] == 0
    assert page.evaluate("() => window.log.stages") == STAGES
    assert_matches_server(page, site.url, state)


def test_a_failed_stage_shows_as_failed_and_resume_finishes(
    browser_page: Page, site: ServerProcess
) -> None:
    page = browser_page
    sign_up(page, site.url, "unlucky")
    open_harness(page, site.url, model=f"rate={RATE} faults=outline:auth:1")
    generate(page)
    wait_until(page, "() => client.status === 'failed'")
    wait_until(page, "() => window.log.errors.length === 1")
    state = page.evaluate(STATE)
    assert (state["isGenerating"], state["isCompleted"], state["isFailed"]) == (
        False, False, True
    )
    assert page.evaluate("() => client.getStageStatus('outline')") == "failed"
    assert state["error"] and page.evaluate("() => window.log.errors[0]").startswith(
        "stream_failed: "
    )
    assert page.evaluate("() => window.log.stages") == ["brief", "context"]

    page.evaluate("() => client.resumeReport()")
    wait_until(page, "() => window.log.completed.length === 1")
    state = page.evaluate(STATE)
    assert (state["isFailed"], state["isCompleted"], state["error"]) == (False, True, None)
    assert page.evaluate("() => window.log.stages") == STAGES


def test_example_page_builds_a_live_card_under_the_csp(
    browser_page: Page, site: ServerProcess, tmp_path: Path
) -> None:
    page = browser_page
    offline_model(page, f"rate={RATE}")  # slow enough to see Cancel while it runs
    sign_up(page, site.url, "developer")
    problems: list[str] = []  # CSP refusals and script errors show up here
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(site.url + "/dev/client/")
    assert response is not None
    assert "'unsafe-inline'" not in response.headers["content-security-policy"].split(
        "script-src"
    )[1].split(";")[0]
    page.click("button[name=generate]")
    expect(page.locator("#card-stages li")).to_have_count(7)
    expect(page.locator("#cancel")).to_be_visible()
    expect(page.locator("#card-stages li.stage-completed")).to_have_count(7, timeout=60_000)
    expect(page.locator("#card-status")).to_have_text("completed")
    expect(page.locator("#card-progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#card-announce")).to_have_text("Assemble the report: done")
    expect(page.locator("#cancel")).to_be_hidden()
    page.screenshot(path=tmp_path / "client-example-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=tmp_path / "client-example-390.png", full_page=True)
    page.click("#report-link")
    page.wait_for_url(re.compile(r"/documents/"))
    assert page.locator("article.document h1").inner_text() == "Retention plan"
    assert problems == []
