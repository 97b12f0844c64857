"""``docs/configuration.md``, written from the declarations in ``reportsite/variables.py``.

``make docs-config`` (``python -m reportsite.configuration_doc > docs/configuration.md``)
writes it; ``tests/test_configuration.py`` fails when the page and the declarations
disagree.
"""

from __future__ import annotations

import sys
from typing import Any

from reportsite.variables import GROUPS, LIST, VARIABLES, Variable, number

HEADER = """\
# Configuration

<!-- Generated from reportsite/variables.py by `make docs-config`: edit the
declarations, not this page (tests/test_configuration.py checks it is up to date). -->

Everything comes from the environment, read once by `reportsite/settings.py`; nothing
secret is stored or logged. Each variable is declared once, with its type, default and
meaning, in `reportsite/variables.py`; this page is made from those declarations, and a
test fails when the code reads a variable that is not declared. The core reads the
values through one typed object, `reports.domain.config.config()`.

## How values are read

The environment is read with [django-environ](https://django-environ.readthedocs.io/),
the declarations being its scheme (`environ.Env(NAME=(cast, default))`). We chose it
over environs because it is made for Django settings (`env.db` parses `DATABASE_URL`;
it is what cookiecutter-django uses), its scheme is exactly a declaration of type and
default, and its lenient casts keep the results the site always had: an empty or
unknown boolean is false, where environs refuses `DEBUG=` at start-up.

- **Booleans**: `1`, `true`, `yes` and `on` (any case, spaces ignored) are true, and so
  is any other integer than `0`; everything else, empty included, is false.
- **Lists** are comma-separated; spaces around each item are dropped.
- **Numbers** are read as Python reads them (`1e3` is 1000). A value that is not a
  number stops start-up with an error naming the variable.
- **Text** is taken as it is. A value that starts with `$` names another variable
  (`SECRET_KEY=$DJANGO_SECRET` reads `DJANGO_SECRET`); start-up stops if that one is
  not set. Write `\\$` for a literal `$`.
- Values the core parses further (`STREAM_BUDGET_USD`, `LLM_STAGE_MODELS`,
  `LLM_STREAM_PARSER`, the `LLM_PRICING` table, `STREAM_RUNNER`, a provider's key and
  base URL) are checked by `manage.py check` (and so `migrate` and `make run`), which
  names the setting to fix.

To add a variable: declare it in `reportsite/variables.py`, read it in
`reportsite/settings.py` with `env("NAME")`, give the core a typed field in
`reports/domain/config.py` if it needs one, and run `make docs-config`.
"""

TYPES = {bool: "boolean", int: "integer", number: "number", str: "text"}


def type_name(variable: Variable) -> str:
    """The declared type in words."""
    return "list" if variable.cast == LIST else TYPES[variable.cast]


def shown_default(variable: Variable) -> str:
    """The default as the page shows it."""
    value: Any = variable.default
    if variable.shown:
        return variable.shown
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list):
        value = ",".join(value)
    return f"`{value}`" if value != "" else "empty"


def render() -> str:
    """The whole page, grouped as the declarations are."""
    parts = [HEADER]
    for group, intro in GROUPS.items():
        parts.append(f"\n## {group}\n\n")
        if intro:
            parts.append(f"{intro}\n\n")
        parts.append("| Variable | Type | Default | Meaning |\n|---|---|---|---|\n")
        for variable in (v for v in VARIABLES if v.group == group):
            cells = (f"`{variable.name}`", type_name(variable), shown_default(variable),
                     variable.meaning)
            parts.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n")
    return "".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
