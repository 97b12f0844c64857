"""The one place that turns (untrusted) model output into safe HTML: Markdown, and the
structured (JSON) output of stages that ask for it, shown as nested lists."""

from __future__ import annotations

import json
import re
from typing import Any

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable("table")
    .enable("strikethrough")
)

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"align"}, "td": {"align"}}
# A wide table scrolls in its own box on a phone instead of widening the page; the box
# takes the keyboard focus so it can be scrolled without a mouse.
TABLE_OPEN = '<div class="table-scroll" tabindex="0" role="region" aria-label="Table">'
TABLE_CLOSE = "</div>"


def render_markdown(text: str) -> SafeString:
    """Render Markdown and sanitize the result; every page, fragment and export uses it."""
    return _clean(_markdown.render(text or ""))


def _clean(html: str) -> SafeString:
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    # After sanitizing, "<table>" can only be a tag nh3 wrote (text would be "&lt;table&gt;"),
    # and nh3 writes it without attributes.
    clean = clean.replace("<table>", TABLE_OPEN + "<table>")
    clean = clean.replace("</table>", "</table>" + TABLE_CLOSE)
    return mark_safe(clean)


def render_data(value: Any) -> SafeString:
    """Parsed JSON as readable nested lists (an object with a ``title`` is led by it),
    sanitized like Markdown."""
    return _clean(_data_html(value))


def _data_html(value: Any) -> str:
    if isinstance(value, list):
        items = "".join(f"<li>{_data_html(item)}</li>" for item in value)
        return f"<ul>{items}</ul>" if items else ""
    if isinstance(value, dict):
        rest = dict(value)
        title = rest.pop("title", None)
        head = f"<strong>{escape(title)}</strong>" if isinstance(title, str | int | float) else ""
        if title is not None and not head:
            rest["title"] = title
        items = "".join(
            f"<li><b>{escape(_label(key))}:</b> {_data_html(item)}</li>"
            for key, item in rest.items()
        )
        return head + (f"<ul>{items}</ul>" if items else "")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(escape(value))


def data_markdown(value: Any) -> str:
    """Parsed JSON as Markdown lists, the way ``render_data`` shows it on the page (an
    object with a ``title`` is led by it): what exports write for a JSON stage."""
    return "\n".join(_md_lines(value, 0))


def _md_lines(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, list):
        lines: list[str] = []
        for item in value:
            head, body = _md_item(item, depth + 1)
            lines.append(f"{pad}- {head}".rstrip())
            lines += body
        return lines
    head, body = _md_item(value, depth)
    return ([pad + head] if head else []) + body


def _md_item(value: Any, depth: int) -> tuple[str, list[str]]:
    """(the line that leads ``value``, the lines under it at ``depth``)."""
    pad = "  " * depth
    if isinstance(value, dict):
        rest = dict(value)
        title = rest.pop("title", None)
        head = f"**{title}**" if isinstance(title, str | int | float) else ""
        if title is not None and not head:
            rest["title"] = title
        body: list[str] = []
        for key, item in rest.items():
            if isinstance(item, list | dict) and item:
                body.append(f"{pad}- **{_label(key)}:**")
                body += _md_lines(item, depth + 1)
            else:
                body.append(f"{pad}- **{_label(key)}:** {_md_scalar(item)}".rstrip())
        return head, body
    if isinstance(value, list):
        return "", _md_lines(value, depth)
    return _md_scalar(value), []


def _md_scalar(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())  # one line: a list item must not break


def _label(key: Any) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


_LIST_MARKER = re.compile(r"^\s*(?:[*+-]|\d+[.)])\s+")
_DANGLING_OPENER = re.compile(r"(?:^|\s)(\*{1,3}|`+)$")


def close_open_markup(text: str) -> str:
    """Text that is still arriving, with the emphasis or code its last line opened but
    has not closed yet closed for it (dropped when nothing follows the marker): "**Bold te"
    reads as bold, not as two literal asterisks, until the rest arrives."""
    last = text.rpartition("\n")[2]
    line = _LIST_MARKER.sub("", last, count=1)
    dangling = _DANGLING_OPENER.search(line)
    if dangling:  # "word **": nothing to emphasise yet
        return text[: len(text) - len(dangling.group(1))]
    if line.count("`") % 2:
        return text + "`"
    if "`" in line:
        return text  # (stars inside code spans are not emphasis)
    closing = ""
    if line.count("**") % 2:
        closing += "**"
    if line.replace("**", "").count("*") % 2:
        closing = "*" + closing
    # A closing marker must follow a letter, not a space ("it *" is not emphasis).
    return text.rstrip(" \t") + closing if closing else text


def parse_partial_json(text: str) -> Any:
    """The value a JSON text that is still arriving holds so far (closing the open
    string, object and list), or None before any of it can be read."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0] if body.rstrip().endswith("```") else body
    starts = [i for i in (body.find("{"), body.find("[")) if i >= 0]
    if not starts:
        return None
    body = body[min(starts):]
    # Where a value may end: the full text, else just before a comma or after an opener.
    cuts = [len(body)]
    in_string = escaped = False
    for index, char in enumerate(body):
        if in_string:
            if char == '"' and not escaped:
                in_string = False
            escaped = not escaped and char == "\\"
            continue
        if char == '"':
            in_string = True
        elif char == ",":
            cuts.append(index)
        elif char in "[{":
            cuts.append(index + 1)
    for cut in sorted(set(cuts), reverse=True)[:64]:
        try:
            return json.loads(_closed(body[:cut]))
        except json.JSONDecodeError:
            continue
    return None


def _closed(prefix: str) -> str:
    """``prefix`` with its open string, objects and lists closed."""
    stack: list[str] = []
    in_string = escaped = False
    for char in prefix:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            stack.append("]" if char == "[" else "}")
        elif char in "]}" and stack:
            stack.pop()
    text = prefix
    if in_string:
        text = (text[:-1] if escaped else text) + '"'
    text = text.rstrip()
    if text.endswith(","):
        text = text[:-1]
    elif text.endswith(":"):
        text += " null"
    return text + "".join(reversed(stack))
