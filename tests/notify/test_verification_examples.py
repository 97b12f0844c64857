"""The verification examples in docs/security.md, run as written: the Python one in
this process, the JavaScript one in Node, against a real signed delivery."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from reports.notify.sending import send_due
from reports.notify.webhooks import webhook_create
from reports.providers.fake import FakeProvider
from reports.runtime.engine import run_stream
from tests.conftest import CI
from tests.notify.receiver import Received, running_receiver

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def example(language: str, marker: str) -> str:
    """The code block of ``language`` in docs/security.md that contains ``marker``."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)
    [found] = [b for b in blocks if marker in b]
    return str(found)


@pytest.fixture
def delivered(
    user: User, make_stream: Any, fake_provider: FakeProvider, webhook_settings: Any
) -> tuple[Received, str]:
    """One real delivery as its receiver got it, and the webhook's secret."""
    with running_receiver() as receiver:
        webhook = webhook_create(user=user, url=receiver.url, events=["stream.completed"])
        assert run_stream(make_stream().pk) == "completed"
        send_due()
    [got] = receiver.requests
    return got, webhook.secret


def replayed(got: Received, seconds_ago: int) -> Received:
    """``got`` with its time moved back (what a replay of an old capture looks like once
    re-signed by someone without the secret: the old MAC under the new time)."""
    t = int(got.headers["X-Reportsite-Timestamp"])
    signature = got.headers["X-Reportsite-Signature-V2"].replace(f"t={t}", f"t={t - seconds_ago}")
    return Received(got.path, {**got.headers, "X-Reportsite-Signature-V2": signature}, got.body)


def test_the_python_example_accepts_a_delivery_and_refuses_replays(
    delivered: tuple[Received, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    got, secret = delivered
    namespace: dict[str, Any] = {}
    exec(example("python", "def verify_delivery"), namespace)
    verify = namespace["verify_delivery"]
    assert verify(got.body, got.headers, secret) is True
    assert verify(got.body, got.headers, "whsec_wrong") is False
    assert verify(got.body.replace(b"completed", b"failed"), got.headers, secret) is False
    other_id = {**got.headers, "X-Reportsite-Delivery": "another-id"}
    assert verify(got.body, other_id, secret) is False
    assert verify(got.body, replayed(got, 10).headers, secret) is False
    # The same capture six minutes on: outside the tolerance.
    later = time.time() + 360
    monkeypatch.setattr(namespace["time"], "time", lambda: later)
    assert verify(got.body, got.headers, secret) is False


JS_RUNNER = """
import { verifyDelivery } from "./verify.mjs";
const cases = JSON.parse(process.argv[2]);
const out = cases.map(({body, headers, secret, shift}) => {
  const realNow = Date.now;
  Date.now = () => realNow() + shift * 1000;
  try { return verifyDelivery(Buffer.from(body, "base64"), headers, secret); }
  finally { Date.now = realNow; }
});
console.log(JSON.stringify(out));
"""


def test_the_javascript_example_accepts_a_delivery_and_refuses_replays(
    delivered: tuple[Received, str], tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        if CI:
            pytest.fail("node is missing (CI=true): apt-get install -y nodejs")
        pytest.skip("node is missing")
    got, secret = delivered
    (tmp_path / "verify.mjs").write_text(example("js", "verifyDelivery"))
    (tmp_path / "run.mjs").write_text(JS_RUNNER)

    def case(received: Received, secret: str = secret, shift: int = 0,
             body: bytes | None = None) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in received.headers.items()}
        raw = received.body if body is None else body
        return {"body": base64.b64encode(raw).decode(), "headers": headers,
                "secret": secret, "shift": shift}

    cases = [
        case(got),
        case(got, secret="whsec_wrong"),
        case(got, body=got.body.replace(b"completed", b"failed")),
        case(Received(got.path, {**got.headers, "X-Reportsite-Delivery": "x"}, got.body)),
        case(replayed(got, 10)),
        case(got, shift=360),
    ]
    result = subprocess.run(
        [node, "run.mjs", json.dumps(cases)], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=True,
    )
    assert json.loads(result.stdout) == [True, False, False, False, False, False]
