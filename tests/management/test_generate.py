"""``manage.py generate``: a live display of stages, tokens, elapsed and remaining time; a
clean exit after a finished run; refused inputs listed the way the form words them."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from devtools.servers import ROOT, migrated_database, server_env
from reports.client_report.pipeline import PIPELINE
from tests.conftest import REPORT_INPUT

# The module's database is made once: its tests run on one pytest-xdist worker.
pytestmark = pytest.mark.xdist_group("generate")


@pytest.fixture(scope="module")
def cli_site() -> Iterator[tuple[dict[str, str], Path]]:
    """An embedded-mode database with a user, and a file of report inputs."""
    with tempfile.TemporaryDirectory(prefix="generate-") as folder:
        env = server_env(Path(folder) / "db.sqlite3", OFFLINE_TOKENS_PER_SECOND="300")
        migrated_database(Path(folder) / "db.sqlite3")
        code = "from django.contrib.auth.models import User; User.objects.create_user('cli')"
        subprocess.run([sys.executable, "manage.py", "shell", "-c", code],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        inputs = Path(folder) / "inputs.json"
        inputs.write_text(json.dumps(REPORT_INPUT))
        yield env, inputs


def generate(env: dict[str, str], inputs: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "generate", "report", str(inputs), "--user", "cli"],
        cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=120,
    )


def test_a_finished_run_lists_its_stages_and_exits_without_a_shutdown_notice(
    cli_site: tuple[dict[str, str], Path],
) -> None:
    result = generate(*cli_site)
    assert result.returncode == 0, result.stderr
    for stage in PIPELINE.stages:
        assert f"✓ {stage.title}" in result.stdout, stage.key
    assert " completed in 0:" in result.stdout and "tokens in" in result.stdout
    assert "report " in result.stdout
    assert "Shutting down" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_on_a_terminal_a_bar_shows_the_stage_tokens_elapsed_and_remaining(
    cli_site: tuple[dict[str, str], Path],
) -> None:
    # TTY_COMPATIBLE=1: rich draws its live display as on a terminal.
    result = generate(*cli_site, TTY_COMPATIBLE="1", COLUMNS="160")
    assert result.returncode == 0, result.stderr
    assert "Section drafts" in result.stdout
    assert "elapsed 0:0" in result.stdout and "remaining " in result.stdout
    assert " out elapsed" in result.stdout  # "N in · M out" tokens before the clocks


@pytest.mark.django_db
def test_refused_inputs_are_one_line_a_field_not_a_python_list(user: Any, tmp_path: Path) -> None:
    inputs = tmp_path / "bad.json"
    inputs.write_text(json.dumps({"title": "  ", "objective": "Plan."}))
    with pytest.raises(CommandError) as refused:
        call_command("generate", "report", str(inputs), "--user", user.username)
    message = str(refused.value)
    assert "[{" not in message and "'field'" not in message
    assert message.splitlines()[1:] == [
        "  title: This field cannot be blank.",
        "  client: This field is required.",
    ]
