"""Every environment variable is declared once (reportsite/variables.py), read through
django-environ as before, and documented: docs/configuration.md is generated from the
declarations, and no code reads a variable that is not declared.

The scan covers the site (reportsite/, reports/, starmap/, manage.py), the benchmarks,
the docs scripts and the Procfile; the test harness's own variables (tests/) are not
configuration.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from reportsite.configuration_doc import render
from reportsite.environment import env
from reportsite.variables import GROUPS, VARIABLES

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("manage.py", "reportsite", "reports", "starmap", "bench", "docs")
# The one place that reads the environment by a name it is given.
READER = ROOT / "reportsite" / "environment.py"
DECLARED = {variable.name for variable in VARIABLES}
# django-environ's readers (a local dict that happens to be called env is not one).
ENV_READERS = {"bool", "int", "float", "str", "bytes", "list", "tuple", "dict", "json",
               "url", "db", "db_url", "cache", "cache_url", "email", "email_url",
               "search_url", "channels", "channels_url", "path", "get_value"}


def python_files() -> Iterator[Path]:
    for entry in SCANNED:
        path = ROOT / entry
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def dotted(node: ast.AST) -> str:
    """``os.environ.get`` for the expression ``os.environ.get``; "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def env_reads(tree: ast.AST) -> Iterator[tuple[int, str, str | None]]:
    """(line, how, name) of every read of an environment variable: through ``env`` or
    straight from ``os.environ``/``os.getenv`` (name None: not a literal)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = dotted(node.func)
            first = node.args[0] if node.args else None
            if func == "env" or (func.startswith("env.") and func[4:] in ENV_READERS):
                yield node.lineno, "env", literal(first)
            elif func in ("os.environ.get", "os.getenv", "environ.get"):
                yield node.lineno, "os", literal(first)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if dotted(node.value) == "os.environ":
                yield node.lineno, "os", literal(node.slice)
        elif isinstance(node, ast.Compare) and any(
            dotted(comparator) == "os.environ" for comparator in node.comparators
        ):
            yield node.lineno, "os", literal(node.left)


def all_reads() -> list[tuple[str, int, str, str | None]]:
    found = []
    for path in python_files():
        if path == READER:
            continue
        for line, how, name in env_reads(ast.parse(path.read_text())):
            found.append((str(path.relative_to(ROOT)), line, how, name))
    procfile = (ROOT / "Procfile").read_text()
    for number, text in enumerate(procfile.splitlines(), 1):
        if not text.lstrip().startswith("#"):
            found += [("Procfile", number, "env", n) for n in re.findall(r"\$\{?([A-Z]\w*)", text)]
    return found


def test_every_variable_the_code_reads_is_declared() -> None:
    undeclared = [f"{path}:{line} {name}" for path, line, _, name in all_reads()
                  if name is not None and name not in DECLARED]
    assert undeclared == [], "declare them in reportsite/variables.py"


def test_the_environment_is_read_through_the_declarations_only() -> None:
    """No os.environ.get / os.getenv / os.environ[...] reads (hand-written parsing), and
    no read of a name the scan cannot see."""
    raw = [f"{path}:{line} {name}" for path, line, how, name in all_reads()
           if how == "os" or name is None]
    assert raw == [], "read it with reportsite.environment.env"


def test_every_declared_variable_is_read_somewhere() -> None:
    read = {name for _, _, _, name in all_reads()}
    assert sorted(DECLARED - read) == []


def test_each_variable_is_declared_once_with_a_group_and_a_meaning() -> None:
    names = [variable.name for variable in VARIABLES]
    assert sorted({n for n in names if names.count(n) > 1}) == []
    assert [v.name for v in VARIABLES if v.group not in GROUPS or not v.meaning.strip()] == []


def test_the_configuration_page_is_generated_from_the_declarations() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page == render(), "run `make docs-config`"


def test_the_variables_that_were_read_but_undocumented_are_on_the_page() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    for name in ("CELERY_WORKER_POOL", "DB_POOL_TIMEOUT_SECONDS", "LOG_LEVEL", "STATIC_ROOT",
                 "TEST_SQLITE_NAME"):
        assert re.search(rf"^\| `{name}` \| \w+ \| [^|]+ \| [^|]+ \|$", page, re.M), name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("On", True),
     ("0", False), ("false", False), ("no", False), ("off", False), ("", False),
     ("maybe", False), ("ok", False), ("y", False)],
)
def test_a_boolean_reads_as_it_always_did(
    raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1/true/yes/on (any case, spaces ignored) are true; django-environ's own extra
    "ok" and "y" are not, as they never were here."""
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", raw)
    assert env("WEBHOOK_ALLOW_PRIVATE") is expected


def test_an_unset_variable_has_its_declared_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEASE_TTL_SECONDS", "ALLOWED_HOSTS", "OPENAI_STRUCTURED_OUTPUT"):
        monkeypatch.delenv(name, raising=False)
    assert env("LEASE_TTL_SECONDS") == 15.0
    assert env("ALLOWED_HOSTS") == ["localhost", "127.0.0.1", "[::1]"]
    assert env("OPENAI_STRUCTURED_OUTPUT") is True


def test_lists_and_numbers_read_as_they_always_did(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example, b.example,,c")
    monkeypatch.setenv("LEASE_TTL_SECONDS", "1e3")
    monkeypatch.setenv("EMAIL_PORT", " 587 ")
    assert env("ALLOWED_HOSTS") == ["a.example", "b.example", "c"]
    assert env("LEASE_TTL_SECONDS") == 1000.0  # django-environ's float cast says 13.0
    assert env("EMAIL_PORT") == 587


def test_a_number_that_is_not_one_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEASE_TTL_SECONDS", "soon")
    with pytest.raises(ImproperlyConfigured, match="LEASE_TTL_SECONDS"):
        env("LEASE_TTL_SECONDS")


def test_a_value_naming_an_unset_variable_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """django-environ would quietly take the default: a SECRET_KEY starting with "$"
    would have become the development key."""
    monkeypatch.delenv("NO_SUCH_VARIABLE_ANYWHERE", raising=False)
    monkeypatch.setenv("SECRET_KEY", "$NO_SUCH_VARIABLE_ANYWHERE")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        env("SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY", r"\$NO_SUCH_VARIABLE_ANYWHERE")
    assert env("SECRET_KEY") == "$NO_SUCH_VARIABLE_ANYWHERE"


def test_a_bad_value_in_the_environment_is_reported_by_the_system_check() -> None:
    """From the environment to ``manage.py check``: the values the core parses."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(STREAM_BUDGET_USD="ten dollars", LLM_STREAM_PARSER="fast",
                   LLM_STAGE_MODELS="report:outline=a,nonsense")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environ,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "reports.E003" in result.stderr and "STREAM_BUDGET_USD" in result.stderr
    assert "reports.E004" in result.stderr and "'nonsense'" in result.stderr
    assert "LLM_STREAM_PARSER 'fast' is not lean or sdk" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["run", "PORT=8123"], "SITE_URL=http://127.0.0.1:8123 "),
        (["run", "HOST=0.0.0.0", "PORT=9000"], "SITE_URL=http://localhost:9000 "),
        (["run-distributed", "PORT=8124"], "SITE_URL=http://127.0.0.1:8124 "),
        (["run", "PORT=8125", "SITE_URL=https://reports.example"],
         "SITE_URL=https://reports.example "),
    ],
)
def test_e_mail_links_follow_the_port_make_run_serves_on(
    command: list[str], expected: str
) -> None:
    """Issue 31, item 19: links pointed at port 8000 whatever PORT said."""
    env = {k: v for k, v in os.environ.items() if k != "SITE_URL"}
    plan = subprocess.run(["make", "-n", *command], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=True).stdout
    assert expected in plan
