"""Markdown to a Word document (python-docx), walking markdown-it's tokens: headings,
paragraphs with bold, italic, code and struck text, lists, tables, code blocks, quotes.
Raw HTML is never interpreted (the parser is configured as for pages)."""

from __future__ import annotations

from typing import Any

from docx import Document as new_document
from docx.document import Document as WordDocument
from docx.shared import Pt
from markdown_it import MarkdownIt
from markdown_it.token import Token

_parser = MarkdownIt("commonmark", {"html": False}).enable("table").enable("strikethrough")


def _inline(paragraph: Any, token: Token) -> None:
    bold = italic = code = strike = False
    for child in token.children or []:
        kind = child.type
        if kind in ("strong_open", "strong_close"):
            bold = kind == "strong_open"
        elif kind in ("em_open", "em_close"):
            italic = kind == "em_open"
        elif kind in ("s_open", "s_close"):
            strike = kind == "s_open"
        elif kind in ("softbreak", "hardbreak"):
            paragraph.add_run().add_break()
        elif kind in ("text", "code_inline"):
            code = kind == "code_inline"
            run = paragraph.add_run(child.content)
            run.bold, run.italic, run.font.strike = bold, italic, strike
            if code:
                run.font.name = "Courier New"


def markdown_to_docx(markdown: str, *, title: str) -> WordDocument:
    document = new_document()
    document.core_properties.title = title
    tokens = _parser.parse(markdown or "")
    lists: list[str] = []  # "List Bullet" / "List Number", innermost last
    quote = 0
    row: list[str] | None = None
    rows: list[list[str]] = []
    style: str | None = None
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            style = f"Heading {min(int(token.tag[1]), 9)}"
        elif kind == "bullet_list_open":
            lists.append("List Bullet")
        elif kind == "ordered_list_open":
            lists.append("List Number")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            rows.append(row)
            row = None
        elif kind == "inline" and row is not None:
            row.append(token.content)
        elif kind == "table_close":
            _table(document, rows)
            rows = []
        elif kind == "inline":
            if style is None and lists:
                style = lists[-1] if len(lists) == 1 else f"{lists[-1]} 2"
            elif style is None and quote:
                style = "Quote"
            _inline(document.add_paragraph(style=style), token)
            style = None
        elif kind in ("fence", "code_block"):
            run = document.add_paragraph().add_run(token.content.rstrip("\n"))
            run.font.name = "Courier New"
            run.font.size = Pt(9)
    return document


def _table(document: WordDocument, rows: list[list[str]]) -> None:
    if not rows:
        return
    width = max(len(r) for r in rows)
    table = document.add_table(rows=len(rows), cols=width)
    table.style = "Table Grid"
    for i, cells in enumerate(rows):
        for j, text in enumerate(cells):
            table.cell(i, j).text = text
            if i == 0:
                for run in table.cell(i, j).paragraphs[0].runs:
                    run.bold = True
