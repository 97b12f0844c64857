"""A document as its page shows it: the sanitized HTML, with anchors on its section
headings, and the table of contents built from them."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

from reports.domain.rendering import render_markdown

# Sanitized headings carry no attributes (the renderer allows none on them).
_HEADING = re.compile(r"<h([23])>(.*?)</h\1>", re.DOTALL)
WORDS_PER_MINUTE = 220


@dataclass(frozen=True)
class Heading:
    """One entry of the contents: level 2 or 3, its text and the anchor it links to."""

    level: int
    text: str
    anchor: str


@dataclass(frozen=True)
class DocumentPage:
    """The rendered document, its contents, and whether it opens with its own title."""

    html: SafeString
    headings: list[Heading]
    has_title: bool
    words: int

    @property
    def reading_minutes(self) -> int:
        return max(1, round(self.words / WORDS_PER_MINUTE))


def document_page(markdown: str) -> DocumentPage:
    """Render ``markdown`` (the one sanitizing renderer) and give its h2/h3 anchors."""
    rendered = str(render_markdown(markdown))
    headings: list[Heading] = []
    taken: set[str] = set()

    def anchor(match: re.Match[str]) -> str:
        level, inner = int(match.group(1)), match.group(2)
        text = " ".join(html.unescape(strip_tags(inner)).split())
        base = "s-" + (slugify(text)[:60] or "section")
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        headings.append(Heading(level, text, slug))
        # The id is ours (letters, digits, hyphens), added after sanitizing.
        return f'<h{level} id="{slug}">{inner}</h{level}>'

    with_anchors = _HEADING.sub(anchor, rendered)
    return DocumentPage(
        html=mark_safe(with_anchors),
        headings=headings,
        has_title=rendered.lstrip().startswith("<h1>"),
        words=len(markdown.split()),
    )
