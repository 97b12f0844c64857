"""The docs hold together: every relative link in README.md and docs/ reaches a file (and
a heading, when it names one), the README stays a front page, and nothing cites the
design notes that live outside the repository."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
# Notes kept outside the repository: a reader of the code cannot open them.
OUTSIDE_NOTES = re.compile(r"\b(DESIGN|STACK|CONVENTIONS)\.md\b")
# The README is a front page now: a section of it named in code has moved to docs/.
README_SECTION = re.compile(r"""README(, "|'s [A-Z])""")
SOURCE_SUFFIXES = {".py", ".js", ".ts", ".html", ".md", ".txt", ".toml", ".cfg"}
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache",
                ".ruff_cache", ".pytest_cache"}


def prose(text: str) -> str:
    """``text`` without code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to -."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of ``page`` (a repeated heading gets -1, -2...)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> Iterator[str]:
    """Each relative link of ``page`` whose file (or heading) does not exist."""
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"^[a-z][a-z+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            yield f"{target}: no such file"
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            yield f"{target}: no heading #{anchor} in {file.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    assert list(broken_links(page)) == []


def test_the_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# There\n\n## A part\n")
    page.write_text(
        "[ok](there.md) [ok](there.md#a-part) [web](https://example.com/x)\n"
        "`[code](nowhere.md)` [gone](nowhere.md) [no part](there.md#b-part)\n"
    )
    assert list(broken_links(page)) == [
        "nowhere.md: no such file",
        "there.md#b-part: no heading #b-part in there.md",
    ]


def test_the_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_docs_page_opens_with_a_title_and_a_summary(page: Path) -> None:
    blocks = [b for b in page.read_text().split("\n\n") if b.strip()]
    assert blocks[0].startswith("# ") and "\n" not in blocks[0].strip()
    assert not blocks[1].lstrip().startswith(("#", "|", "```", "-", "!"))


def source_files() -> Iterator[Path]:
    for path in ROOT.rglob("*"):
        if SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
            continue
        if path.is_file() and path.suffix in SOURCE_SUFFIXES:
            yield path


def citing(pattern: re.Pattern[str], suffixes: set[str]) -> list[str]:
    """``path:line`` of every line of a file with one of ``suffixes`` that matches."""
    return [
        f"{path.relative_to(ROOT)}:{number}"
        for path in source_files()
        if path.suffix in suffixes
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if pattern.search(line)
    ]


def test_nothing_cites_notes_outside_the_repository() -> None:
    assert citing(OUTSIDE_NOTES, SOURCE_SUFFIXES) == []


def test_code_cites_docs_pages_not_readme_sections() -> None:
    assert citing(README_SECTION, SOURCE_SUFFIXES - {".md"}) == []
