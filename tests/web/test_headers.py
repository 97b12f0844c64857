"""Headers every page carries: a strict Content-Security-Policy, nothing loaded from
another origin (the API docs included), and the production switch HTTPS=true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = re.compile(r"""(?:src|href)=["'](?:https?:)?//""")


@pytest.fixture
def client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csp_of(response: object) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]  # type: ignore[index]
    directives = [part.strip().split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ["/", "/reports/new/", "/starmap/", "/api/docs"])
def test_pages_have_a_csp_without_inline_scripts_and_load_nothing_from_elsewhere(
    client: Client, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    csp = csp_of(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    html = response.content.decode()
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)
    # No inline script runs: every <script> has a src or is a JSON data block.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def run_check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update({
        "DJANGO_SETTINGS_MODULE": "reportsite.settings",
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-a-real-secret-key-of-fifty-characters-or-more",
        "ALLOWED_HOSTS": "reports.example.com",
        **env,
    })
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
    )


def test_https_true_is_the_one_switch_check_deploy_asks_for() -> None:
    without = run_check_deploy()
    assert without.returncode != 0
    assert "security.W004" in without.stderr + without.stdout  # HSTS
    with_https = run_check_deploy(HTTPS="true")
    assert with_https.returncode == 0, with_https.stderr + with_https.stdout
    assert "no issues" in with_https.stdout


def documented_production_environment() -> dict[str, str]:
    """The variables docs/operations.md's "Production layout" tells operators to set."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text[text.index("## Production layout"):]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block, "no sh block in Production layout"
    lines = [line.strip() for line in block.group(1).splitlines() if line.strip()]
    return dict(line.split("=", 1) for line in lines)


def test_the_documented_production_environment_passes_check_deploy() -> None:
    """Issue 32: the documented variables left W004 (HSTS) and W008 (no redirect)."""
    documented = documented_production_environment()
    assert {"DEBUG", "HTTPS", "SECRET_KEY", "ALLOWED_HOSTS"} <= set(documented)
    secret = "k" * 20 + "-a-real-secret-key-of-fifty-characters-or-more"
    env = {**documented, "SECRET_KEY": secret}  # the placeholder, filled as told
    result = run_check_deploy(**env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout
