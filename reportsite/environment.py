"""How the environment is read: django-environ, with the declarations as its scheme.

Every variable is declared once in ``reportsite/variables.py``; ``reportsite/settings.py``
(and the benchmarks) read them through ``env`` below, and ``docs/configuration.md`` is
generated from the same declarations (``make docs-config``). Why django-environ and
not environs: ``docs/configuration.md``, "How values are read".
"""

from __future__ import annotations

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from reportsite.variables import VARIABLES


class Env(environ.Env):
    """django-environ's reader, with the booleans this site always had and errors that
    name the variable."""

    # Only these are true (any case, spaces ignored); django-environ would add "ok"
    # and "y", which were always false here.
    BOOLEAN_TRUE_STRINGS = ("1", "true", "yes", "on")

    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        """The variable's value, cast as declared. A value that cannot be cast, or that
        names an unset variable, stops start-up with a message naming the variable."""
        raw = self.ENVIRON.get(var, "")
        if raw.startswith("$") and raw.lstrip("$") not in self.ENVIRON:
            # django-environ would quietly use the default (a SECRET_KEY starting with
            # "$" would become the development key).
            raise ImproperlyConfigured(
                f"The environment variable {var} starts with $, which names another "
                "variable, and that one is not set. Write \\$ for a literal $."
            )
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError as exc:
            raise ImproperlyConfigured(f"The environment variable {var} is invalid: {exc}") from exc


env = Env(**{variable.name: (variable.cast, variable.default) for variable in VARIABLES})
# A value starting with "$" names another variable (django-environ's proxy values);
# "\$" stands for a literal "$".
env.escape_proxy = True
