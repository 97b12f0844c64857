"""Exports of a document version or of an unfinished stream: Markdown, one
self-contained HTML file, PDF (WeasyPrint) and DOCX (python-docx), each ending with
its provenance."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reports.documents.docx import markdown_to_docx
from reports.documents.provenance import is_missing, report_provenance, stages_provenance
from reports.domain.formats import tokens_label
from reports.domain.rendering import data_markdown, render_markdown
from reports.models import Report, StageStatus, StreamingJob
from reports.pipelines.base import with_cut_off_mark
from reports.providers.pricing import models_cost

FORMATS = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class Document:
    """What every export format writes: the text, then where it came from."""

    title: str
    markdown: str
    stages: list[dict[str, Any]]
    stream_id: str | None
    version: int | None
    made_at: datetime
    status: str  # "completed", or the unfinished stream's status

    def provenance_lines(self) -> list[str]:
        """The facts under the provenance table, one per line."""
        if not self.stages and self.stream_id is None:
            return ["Made before streaming: no record of its generation is kept."]
        made = timezone.localtime(self.made_at).strftime("%Y-%m-%d %H:%M %Z")
        what = f"version {self.version}" if self.version else f"unfinished ({self.status})"
        return [f"Stream {self.stream_id} · {what} · {made}"]

    def provenance_markdown(self) -> str:
        lines = ["", "---", "", "## Provenance", ""]
        if self.stages:
            lines += [
                "| Stage | Model | Tokens in / out / cached | Cost | Attempts "
                "| Started | Finished |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [_row(entry) for entry in self.stages]
            lines.append("")
        lines += self.provenance_lines()
        return "\n".join(lines) + "\n"


def _row(entry: dict[str, Any]) -> str:
    """One stage's provenance as a Markdown table row."""
    cells = [
        entry["title"]
        + (" (unfinished)" if entry.get("partial") else " (missing)" if is_missing(entry) else "")
        + (" (cut off at the output limit)" if entry.get("cut_off") else ""),
        entry["model"] or "-",
        " / ".join(tokens_label(entry[k]) for k in ("tokens_in", "tokens_out", "tokens_cached")),
        _cost_cell(entry),
        str(entry["attempts"]) + _source_note(entry),
        _when(entry["started_at"]),
        _when(entry["finished_at"]),
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _source_note(entry: dict[str, Any]) -> str:
    """How a stage's output came to be, when not from this version's model."""
    source = entry.get("source") or ("copied" if entry.get("reused") else "model")
    return {"copied": " (kept from an earlier version)", "edited": " (edited by hand)"}.get(
        source, ""
    )


def _cost_cell(entry: dict[str, Any]) -> str:
    """A stage's cost as the card writes it: "$0.0031", "free (offline)", "local",
    "no price set"; blank for a stage that never ran."""
    if not entry["attempts"] and not entry.get("reused"):
        return "-"
    cost = entry["cost_usd"]
    return models_cost([entry["model"]], Decimal(cost) if cost is not None else None).label


def _when(value: str | None) -> str:
    moment = parse_datetime(value) if value else None
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def of_report(report: Report) -> Document:
    return Document(
        title=report.title,
        markdown=report.markdown,
        stages=report_provenance(report),
        stream_id=str(report.stream_id) if report.stream_id else None,
        version=report.version,
        made_at=report.created_at,
        status=StageStatus.COMPLETED,
    )


def of_stream(stream: StreamingJob) -> Document:
    """An unfinished or failed stream: finished stages in full, the others marked."""
    stages = list(stream.stages.in_order())
    parts = [f"# {stream.title or 'Untitled'}", ""]
    provenance = stages_provenance(stages)
    for stage, entry in zip(stages, provenance, strict=True):
        parts += [f"## {stage.title}", ""]
        if stage.status != StageStatus.COMPLETED and stage.output.strip():
            # A cancelled (or failed) stage keeps its text so far: exported, and said so.
            entry["partial"] = True
            state = stage.get_status_display().lower()
            parts += [f"*Unfinished: this stage is {state}; its text so far is below.*", "",
                      stage.output, ""]
        elif stage.status != StageStatus.COMPLETED:
            parts += [f"*Missing: this stage is {stage.get_status_display().lower()}.*", ""]
        elif stage.data is not None and not isinstance(stage.data, str):
            parts += [data_markdown(stage.data), ""]  # lists, as the page shows it
        else:
            parts += [with_cut_off_mark(stage.output) if stage.cut_off else stage.output, ""]
    return Document(
        title=stream.title or "Untitled",
        markdown="\n".join(parts),
        stages=provenance,
        stream_id=str(stream.pk),
        version=None,
        made_at=timezone.now(),
        status=stream.status,
    )


def as_markdown(doc: Document) -> bytes:
    return (doc.markdown.rstrip() + "\n" + doc.provenance_markdown()).encode()


def as_html(doc: Document) -> bytes:
    """One file: styles inline, nothing fetched from anywhere, prints well."""
    context = {
        "doc": doc,
        "body": render_markdown(doc.markdown),
        "provenance": render_markdown(doc.provenance_markdown()),
    }
    return render_to_string("reports/export.html", context).encode()


def _no_fetching(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"exports fetch nothing ({url})")


def as_pdf(doc: Document) -> bytes:
    import weasyprint  # loads pango; only an export needs it

    html = weasyprint.HTML(string=as_html(doc).decode(), url_fetcher=_no_fetching)
    pdf: bytes = html.write_pdf()
    return pdf


def as_docx(doc: Document) -> bytes:
    buffer = io.BytesIO()
    markdown_to_docx(doc.markdown + "\n" + doc.provenance_markdown(), title=doc.title).save(
        buffer
    )
    return buffer.getvalue()


WRITERS = {"md": as_markdown, "html": as_html, "pdf": as_pdf, "docx": as_docx}


@dataclass(frozen=True)
class FileName:
    """A download's name: as the title reads (any script) and its ASCII fallback."""

    name: str
    ascii: str


def _stem(text: str, *, ascii_only: bool) -> str:
    # Letters and digits (in any script unless ascii_only), "_" and "-"; dashes between.
    flags = re.ASCII if ascii_only else 0
    return re.sub(r"[^\w-]+", "-", text, flags=flags).strip("-")[:80].strip("-")


def file_name(title: str, fmt: str, version: int | None = None) -> FileName:
    """The download's file name after ``title``, ``-v<version>`` and the extension."""
    suffix = (f"-v{version}" if version else "") + f".{fmt}"
    name = _stem(unicodedata.normalize("NFC", title), ascii_only=False) or "report"
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    fallback = _stem(folded, ascii_only=True) or "report"
    return FileName(name + suffix, fallback + suffix)


def export(doc: Document, fmt: str) -> tuple[bytes, str, FileName]:
    """(content, content type, file name) of ``doc`` in ``fmt`` (one of ``FORMATS``)."""
    return WRITERS[fmt](doc), FORMATS[fmt], file_name(doc.title, fmt, doc.version)
