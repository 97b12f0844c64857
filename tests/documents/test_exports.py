"""Each export opens with a real parser and ends with its provenance; a partial export
marks what is missing; the HTML file needs nothing from anywhere."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote

import docx
import pypdf
import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.models import Report, StreamingJob
from reports.providers import PermanentError
from reports.providers.fake import FakeProvider, Script
from reports.runtime.engine import run_stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def report(make_stream: Any, fake_provider: FakeProvider) -> Report:
    stream = make_stream(title="Retention plan")
    assert run_stream(stream.pk) == "completed"
    return Report.objects.get(stream=stream)


def text_of(fmt: str, content: bytes) -> str:
    """The export's text, read by the format's own parser."""
    if fmt == "pdf":  # (table cells wrap: compare words, not lines)
        pages = pypdf.PdfReader(io.BytesIO(content)).pages
        return " ".join(" ".join(page.extract_text() for page in pages).split())
    if fmt == "docx":
        document = docx.Document(io.BytesIO(content))
        cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
        return "\n".join([p.text for p in document.paragraphs] + cells)
    return content.decode()


class Resources(HTMLParser):
    """Everything an HTML file would fetch: src, link href, CSS url(), @import."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "srcset", "poster", "data") and v]
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")
        self.style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self.style:
            self.urls += re.findall(r"url\(|@import", data)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("md", "text/markdown"),
        ("html", "text/html"),
        ("pdf", "application/pdf"),
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
def test_every_format_opens_and_ends_with_provenance(
    client: Client, report: Report, fmt: str, content_type: str
) -> None:
    response = client.get(f"/api/reports/{report.pk}/export/{fmt}/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"] == f'attachment; filename="Retention-plan-v1.{fmt}"'
    text = text_of(fmt, response.content)
    assert "Retention plan" in text
    assert "Provenance" in text
    assert f"Stream {report.stream_id}" in text and "version 1" in text
    for entry in report.provenance:
        assert entry["title"] in text
    assert "fake-model" in text
    # The document comes before its provenance.
    assert text.index("Retention plan") < text.index("Provenance")


def test_the_html_file_fetches_nothing(client: Client, report: Report) -> None:
    html = client.get(f"/api/reports/{report.pk}/export/html/").content.decode()
    parser = Resources()
    parser.feed(html)
    assert parser.urls == []
    assert "<style>" in html and "@media print" in html


def test_an_unfinished_stream_exports_what_it_has(
    client: Client, make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script("outline", Script(error=PermanentError("Refused.", kind="bad_request")))
    stream = make_stream(title="Half done")
    assert run_stream(stream.pk) == "failed"
    stages = {s.key: s for s in StreamingJob.objects.get(pk=stream.pk).stages.all()}
    for fmt in ("md", "pdf", "docx"):
        response = client.get(f"/api/streams/{stream.pk}/export/{fmt}/")
        assert response.status_code == 200
        text = text_of(fmt, response.content)
        assert (stages["brief"].data or {})["objective"] in text  # finished stages in full
        assert stages["context"].output.split("\n")[-1].split()[-1] in text
        assert "Missing: this stage is failed." in text
        assert "Missing: this stage is pending." in text
        assert "Outline (missing)" in text
        assert "unfinished (failed)" in text


def test_a_completed_stream_exports_its_latest_version(client: Client, report: Report) -> None:
    text = client.get(f"/api/streams/{report.stream_id}/export/md/").content.decode()
    assert text.startswith(report.markdown.rstrip())


def test_an_unknown_format_is_a_404_with_the_error_body(client: Client, report: Report) -> None:
    response = client.get(f"/api/reports/{report.pk}/export/exe/")
    assert response.status_code == 404
    assert "md, html, pdf, docx" in response.json()["message"]


def download_name(header: str) -> str:
    """The file name a browser saves as (RFC 6266: ``filename*`` wins over ``filename``)."""
    extended = re.search(r"filename\*=UTF-8''([^;\s]+)", header, flags=re.I)
    if extended:
        return unquote(extended.group(1), errors="strict")
    plain = re.search(r'filename="([^"]*)"', header)
    assert plain, header
    return plain.group(1)


@pytest.mark.parametrize(
    ("title", "name", "fallback"),
    [
        ("Café crème", "Café-crème-v1", "Cafe-creme-v1"),  # Latin-1: went out as raw bytes
        ("Отчёт о продажах", "Отчёт-о-продажах-v1", "report-v1"),  # noqa: RUF001  MIME-encoded
        ("売上報告 2026", "売上報告-2026-v1", "2026-v1"),
        ('Plan "B"; x=1\\', "Plan-B-x-1-v1", "Plan-B-x-1-v1"),  # quotes and separators
    ],
)
@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_downloads_are_named_after_the_title_in_any_script(
    client: Client, make_stream: Any, fake_provider: FakeProvider,
    title: str, name: str, fallback: str, fmt: str,
) -> None:
    stream = make_stream(title=title)
    assert run_stream(stream.pk) == "completed"
    report = Report.objects.get(stream=stream)
    for path in (f"/api/reports/{report.pk}/export/{fmt}/",
                 f"/api/streams/{stream.pk}/export/{fmt}/"):
        response = client.get(path)
        assert response.status_code == 200
        header = response["Content-Disposition"]
        header.encode("ascii")  # no raw Latin-1 bytes, no =?utf-8?b?...?= encoded word
        assert header.startswith(f'attachment; filename="{fallback}.{fmt}"'), header
        assert download_name(header) == f"{name}.{fmt}"


def test_the_markdown_download_of_a_page_is_named_the_same_way(
    client: Client, make_stream: Any, fake_provider: FakeProvider
) -> None:
    stream = make_stream(title="Отчёт")
    assert run_stream(stream.pk) == "completed"
    report = Report.objects.get(stream=stream)
    header = client.get(f"/documents/{report.pk}/download.md")["Content-Disposition"]
    header.encode("ascii")
    assert header.startswith('attachment; filename="report')
    assert download_name(header) == "Отчёт.md"


def test_provenance_writes_costs_and_tokens_as_the_card_does(
    client: Client, report: Report, settings: Any
) -> None:
    """Issue 31, item 6: a free stage's cost was exported as "$0.000000"."""
    settings.LLM_PRICES = "fake-model=1/2"
    entries = [dict(e) for e in report.provenance]
    entries[0].update(model="offline", cost_usd="0.000000", tokens_in=12480)
    entries[1].update(cost_usd="0.003100")
    Report.objects.filter(pk=report.pk).update(provenance=entries)
    text = client.get(f"/api/reports/{report.pk}/export/md/").content.decode()
    assert "0.000000" not in text
    first, second = (line for line in text.splitlines() if line.startswith("| ")
                     and ("offline" in line or entries[1]["title"] in line))
    assert "free (offline)" in first and "12,480" in first
    assert "$0.0031" in second


def test_an_unfinished_export_writes_json_stages_as_lists_and_keeps_cancelled_text(
    client: Client, make_stream: Any, fake_provider: FakeProvider
) -> None:
    """Issue 31, item 10: JSON stages came out as raw JSON blocks (the page shows lists),
    and a cancelled stage's kept text as "Missing"."""
    fake_provider.script("outline", Script(error=PermanentError("Refused.", kind="bad_request")))
    stream = make_stream(title="Half done")
    assert run_stream(stream.pk) == "failed"
    StreamingJob.objects.filter(pk=stream.pk).update(status="cancelled")
    stream.stages.filter(key="outline").update(status="cancelled", output="The outline so far")
    text = client.get(f"/api/streams/{stream.pk}/export/md/").content.decode()
    assert "```json" not in text and '"key_questions"' not in text
    brief = stream.stages.get(key="brief").data
    assert f"- **Key questions:**\n  - {brief['key_questions'][0]}" in text
    assert "The outline so far" in text and "Missing: this stage is cancelled" not in text
    assert "Outline (unfinished)" in text


def test_the_job_page_offers_export_what_it_has_for_an_unfinished_stream(
    client: Client, make_stream: Any, fake_provider: FakeProvider
) -> None:
    fake_provider.script("outline", Script(error=PermanentError("Refused.", kind="bad_request")))
    stream = make_stream(title="Half done")
    assert run_stream(stream.pk) == "failed"
    page = client.get(f"/reports/{stream.job_id}/").content.decode()
    assert f"/api/streams/{stream.pk}/export/md/" in page and "Export what it has" in page
