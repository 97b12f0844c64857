"""The client report's document: what each stage wrote lands under its own heading."""

from __future__ import annotations

from typing import Any

import pytest

from reports.client_report.drafts import OFFLINE_NOTE, body_sections
from reports.models import Report
from reports.providers.fake import Script
from reports.runtime.engine import run_stream


def section_of(markdown: str, text: str) -> str:
    """The ``## `` heading ``text`` is under in ``markdown``."""
    before = markdown[: markdown.index(text)]
    return [line for line in before.splitlines() if line.startswith("## ")][-1]


@pytest.mark.django_db
def test_the_section_drafts_offline_note_is_under_the_first_section(
    make_stream: Any, fake_provider: Any
) -> None:
    """Issue 31, item 9: it landed at the end of "Context and assumptions"."""
    stream = make_stream()
    note = f"{OFFLINE_NOTE} (sections)"
    fake_provider.script("sections", Script(text=f"{note}\n\n## Where things stand\n\nBody."))
    assert run_stream(stream.pk) == "completed"
    markdown = Report.objects.get(stream=stream).markdown
    assert section_of(markdown, note) == "## Where things stand"


def test_text_before_the_first_heading_moves_under_it() -> None:
    assert body_sections("Preamble.\n\n## One\n\nBody.\n\n## Two\n\nMore.") == (
        "## One\n\nPreamble.\n\nBody.\n\n## Two\n\nMore."
    )
    assert body_sections("## One\n\nBody.") == "## One\n\nBody."
    assert body_sections("No headings at all.") == "No headings at all."
