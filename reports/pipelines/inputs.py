"""The building blocks of job inputs, and the words for their errors.

Every job type's input model is built from these, so ``GET /api/pipelines/`` publishes
each rule the server enforces (docs/security.md, "Input limits"): a required text is not
blank, no text holds a control character (PostgreSQL cannot store NUL), a title is one
line, lengths are bounds.
A client that builds its input from the published schema is never refused.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field
from pydantic_core import ErrorDetails

# Tab, newline and carriage return are text; other control characters are not.
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
# Not whitespace and not a control character: what makes a text "not blank".
_VISIBLE_CHAR = r"[^\s\x00-\x1f\x7f]"
TEXT_PATTERN = rf"^{_TEXT_CHAR}*$"
REQUIRED_TEXT_PATTERN = rf"^{_TEXT_CHAR}*{_VISIBLE_CHAR}{_TEXT_CHAR}*$"
# A line (a title: it reaches e-mail subjects and file names) holds no control
# character at all, C0 or C1, and none of Unicode's line and paragraph separators.
_LINE_BREAKERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_LINE_CHAR = rf"[^{_LINE_BREAKERS}]"
LINE_PATTERN = rf"^{_LINE_CHAR}*[^\s{_LINE_BREAKERS}]{_LINE_CHAR}*$"
_LINE_BREAKS = re.compile(rf"[\s{_LINE_BREAKERS}]+")


def required_text(max_length: int) -> Any:
    """A text that must be given and may not be blank: ``Annotated[str, required_text(n)]``."""
    return Field(min_length=1, max_length=max_length, pattern=REQUIRED_TEXT_PATTERN)


def required_line(max_length: int) -> Any:
    """One line of text (a title), given and not blank: ``Annotated[str, required_line(n)]``."""
    return Field(min_length=1, max_length=max_length, pattern=LINE_PATTERN)


def one_line(text: str) -> str:
    """``text`` as one line: every run of spaces, line breaks and control characters
    becomes one space (for a header made from a title saved before ``required_line``)."""
    return _LINE_BREAKS.sub(" ", text).strip()


def optional_text(max_length: int) -> Any:
    """A text that may be left empty: ``Annotated[str, optional_text(n)] = ""``."""
    return Field(max_length=max_length, pattern=TEXT_PATTERN)


def error_message(error: ErrorDetails) -> str:
    """One input error in the words people read on the form and in the API."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "This field is required."
    if kind == "string_too_short":
        return "This field cannot be blank."
    if kind == "string_too_long":
        return f"Ensure this value has at most {ctx.get('max_length')} characters."
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == LINE_PATTERN:
            return "This field must be one line, not blank, without control characters."
        if ctx.get("pattern") == REQUIRED_TEXT_PATTERN:
            return "This field cannot be blank or contain control characters."
        return "This field cannot contain control characters."
    if kind in ("enum", "literal_error"):
        return "Select a valid choice."
    if kind == "extra_forbidden":
        return "Unknown field."
    # A plain ValueError from a validator reads "Value error, ..."; keep only its words.
    return str(error["msg"]).removeprefix("Value error, ")


def error_details(errors: list[ErrorDetails]) -> list[dict[str, str]]:
    """The API's ``details`` for a refused input: ``[{field, message}]``."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": error_message(err)}
        for err in errors
    ]
