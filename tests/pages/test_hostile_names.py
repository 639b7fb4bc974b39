"""Names with HTML, Markdown or control characters (file names, defect folders, error messages naming them) are shown
as text on every page, never as markup: the components pass them through ``plain_text`` or ``html_text``."""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from components.inspect.inspection_panel import heading
from components.shared.style import html_text, plain_text
from services.data.errors import printable

HOSTILE_NAMES = [
    "<img src=x onerror=alert(1)>.png",
    "<script>alert(document.cookie)</script>.jpg",
    "[click](javascript:alert(1)).png",
    "![tracker](http://evil.example/t.png).png",
    "**bold** _it_ `code` ~~gone~~ $x^2$.png",
    ":red[alarm] :material/warning: :smile:.png",
    "# heading.png",
    "1. item.png",
    "- bullet.png",
    "a\nnew line\r\nand\x1b[31mcolour\x07.png",
    "&lt;b&gt;entity.png",
    "http://evil.example/x.png",
    "pipe | table | row.png",
]
MARKDOWN = MarkdownIt("commonmark")


def visible_text(rendered: str) -> str:
    """The text a browser shows for one rendered paragraph (tags dropped, entities decoded)."""
    body = rendered.strip().removeprefix("<p>").removesuffix("</p>")
    assert "<" not in body, f"markup rendered: {rendered}"
    return html.unescape(body)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_plain_text_shows_a_hostile_name_exactly_as_typed(name: str) -> None:
    assert visible_text(MARKDOWN.render(plain_text(name))) == printable(name)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 .:/\\*_`~$[]()<>&#|!-+=\n\t\x00é:")), max_size=40))
def test_any_text_is_shown_as_typed(text: str) -> None:
    shown = printable(text)
    if shown.strip() and not shown.startswith("    "):  # Markdown trims a paragraph; four spaces make a code block
        assert visible_text(MARKDOWN.render(plain_text(text))) == shown.strip()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_inspection_heading_holds_the_name_as_text(name: str) -> None:
    parsed = _Tags()
    parsed.feed(heading("patchcore", name))
    assert parsed.tags == ["span", "span"], "only the heading's own spans"
    assert parsed.text.endswith(f"· {printable(name)}")
    assert html_text(name) in heading("patchcore", name)


def _rejected(messages: list[str]) -> None:
    from components.inspect import rejected_files

    rejected_files.render(messages)


def test_rejected_uploads_name_each_file_as_text() -> None:
    from services.data.images import ImageInputError, load_image

    messages = []
    for name in HOSTILE_NAMES:
        with pytest.raises(ImageInputError) as error:
            load_image(b"not pixels", name=name, max_pixels=100)
        messages.append(str(error.value))
    app = AppTest.from_function(_rejected, args=(messages,)).run()
    shown = [visible_text(MARKDOWN.render(error.value)) for error in app.error]
    assert shown == [printable(message) for message in messages]
