"""A readable, sanitized diff between two document versions (their Markdown, by line,
with changed words marked inside a changed line)."""

from __future__ import annotations

from difflib import SequenceMatcher

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

CONTEXT_LINES = 2
_TAGS = {"div", "p", "ins", "del"}
_ATTRIBUTES = {"div": {"class"}, "p": {"class"}}


def _words(old: str, new: str) -> tuple[str, str]:
    """Both lines, escaped, with the words that differ wrapped in del / ins."""
    a, b = old.split(" "), new.split(" ")
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        before, after = escape(" ".join(a[i1:i2])), escape(" ".join(b[j1:j2]))
        if op == "equal":
            left.append(before)
            right.append(after)
        else:
            if before:
                left.append(f"<del>{before}</del>")
            if after:
                right.append(f"<ins>{after}</ins>")
    return " ".join(left), " ".join(right)


def _line(kind: str, html: str) -> str:
    return f'<p class="diff-{kind}">{html or "&nbsp;"}</p>'


def diff_html(old: str, new: str) -> SafeString:
    """``old`` → ``new`` as HTML: removed lines, added lines, a little unchanged context."""
    a, b = (old or "").splitlines(), (new or "").splitlines()
    out: list[str] = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    skipped = '<p class="diff-skip">…</p>'
    end = 0
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        if group[0][1] > end:
            out.append(skipped)
        end = group[-1][2]
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                out.extend(_line("same", escape(line)) for line in a[i1:i2])
                continue
            pairs = min(i2 - i1, j2 - j1) if op == "replace" else 0
            for k in range(pairs):
                left, right = _words(a[i1 + k], b[j1 + k])
                out.append(_line("del", left))
                out.append(_line("ins", right))
            out.extend(_line("del", f"<del>{escape(line)}</del>") for line in a[i1 + pairs:i2])
            out.extend(_line("ins", f"<ins>{escape(line)}</ins>") for line in b[j1 + pairs:j2])
    if not out:
        out.append('<p class="diff-none">The two versions are identical.</p>')
    elif end < len(a):
        out.append(skipped)
    html = '<div class="diff">' + "".join(out) + "</div>"
    return mark_safe(nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES))
