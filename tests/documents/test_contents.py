"""The document page: its title once, contents from its headings, the Markdown to copy."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from reports.documents.contents import document_page
from reports.models import Report

MARKDOWN = """# Retention plan

Intro.

## Where things stand

### Numbers <b>& more</b>

## Where things stand

## Options
"""


def test_headings_get_anchors_and_make_the_contents() -> None:
    page = document_page(MARKDOWN)
    assert page.has_title
    assert [(h.level, h.text, h.anchor) for h in page.headings] == [
        (2, "Where things stand", "s-where-things-stand"),
        (3, "Numbers <b>& more</b>", "s-numbers-b-moreb"),
        (2, "Where things stand", "s-where-things-stand-2"),
        (2, "Options", "s-options"),
    ]
    assert '<h2 id="s-where-things-stand-2">Where things stand</h2>' in page.html
    assert "<b>" not in page.html  # still sanitized: the model's tag is text


def test_a_document_without_its_own_title_is_given_one() -> None:
    assert not document_page("Just text.\n\n## A section").has_title


@pytest.mark.django_db
def test_the_page_shows_the_title_once_the_contents_and_the_markdown(user: User) -> None:
    report = Report.objects.create(owner=user, job_type="report", title="Retention plan",
                                   markdown=MARKDOWN)
    client = Client()
    client.force_login(user)
    html = client.get(report.get_absolute_url()).content.decode()
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert html.count(">Retention plan</h1>") == 1
    toc = html[html.index('class="card toc"'):html.index("</details>", html.index("card toc"))]
    assert '<a href="#s-options">Options</a>' in toc
    assert 'id="s-options"' in html
    assert 'data-copy-markdown="document-markdown"' in html
    assert "### Numbers &lt;b&gt;&amp; more&lt;/b&gt;" in html  # the Markdown, escaped


@pytest.mark.django_db
def test_a_document_without_a_title_heading_gets_the_reports_title(user: User) -> None:
    report = Report.objects.create(owner=user, job_type="report", title="Imported notes",
                                   markdown="Some text.")
    client = Client()
    client.force_login(user)
    html = client.get(report.get_absolute_url()).content.decode()
    assert html.count("<h1>Imported notes</h1>") == 1
    assert 'class="card toc"' not in html  # no headings, no contents
