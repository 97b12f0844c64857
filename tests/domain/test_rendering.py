from __future__ import annotations

from html.parser import HTMLParser

import pytest

from reports.domain.rendering import close_open_markup, render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    '<a href="https://ok.example" onclick="steal()">x</a>',
    "[x](JaVaScRiPt:alert(1))",
    "<iframe src='https://evil.example'></iframe>",
    "![img](data:text/html;base64,PHNjcmlwdD4=)",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<svg><script>alert(1)</script></svg>",
]


class ActiveContent(HTMLParser):
    """Collects what a browser would act on: tags, event handlers, URLs, styles."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag}[{name}]")
            if name in {"href", "src"} and not value.startswith(
                ("http:", "https:", "mailto:", "#")
            ):
                self.problems.append(f"{tag}[{name}={value}]")


def active_content(html: str) -> ActiveContent:
    parser = ActiveContent()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_comes_out_inert(text: str) -> None:
    found = active_content(str(render_markdown(text)))
    assert not found.tags & {"script", "iframe", "svg", "img", "object", "embed", "style"}
    assert found.problems == []


def test_ordinary_markdown_survives() -> None:
    html = str(
        render_markdown("# Title\n\n**bold** and [a link](https://example.com)\n\n- one\n- two")
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<li>one</li>" in html


def test_tables_render() -> None:
    html = str(render_markdown("| a | b |\n|---|---|\n| 1 | 2 |"))
    assert "<table>" in html and "<td>1</td>" in html


def test_a_table_scrolls_in_its_own_focusable_box() -> None:
    html = str(render_markdown("| a | b |\n| --- | --- |\n| 1 | 2 |\n\nafter"))
    assert html.startswith('<div class="table-scroll" tabindex="0" role="region"')
    assert "</table></div>" in html
    assert html.count("<div") == html.count("</div>") == 1


def test_a_table_tag_written_as_text_is_not_wrapped() -> None:
    html = str(render_markdown("say <table> and </table> please"))
    assert "table-scroll" not in html and "&lt;table&gt;" in html


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Some **bold te", "<strong>bold te</strong>"),
        ("An *aside in", "<em>aside in</em>"),
        ("- **Point", "<strong>Point</strong>"),
        ("Call `run_st", "<code>run_st</code>"),
        ("Done **bold** and more", "<strong>bold</strong> and more"),
        ("*This section answers: what would it ", "<em>This section answers: what would it</em>"),
    ],
)
def test_text_still_arriving_shows_its_open_emphasis_not_asterisks(text: str, shown: str) -> None:
    """Issue 31, item 14: an unfinished ``*`` showed literally while streaming."""
    html = render_markdown(close_open_markup(text))
    assert shown in html and "*" not in html and "`" not in html


@pytest.mark.parametrize("text", ["A list:\n\n- one\n- ", "Next **", "Code `", "Done *"])
def test_a_marker_with_nothing_after_it_yet_is_not_shown(text: str) -> None:
    assert "*" not in render_markdown(close_open_markup(text))
    assert "`" not in render_markdown(close_open_markup(text))
