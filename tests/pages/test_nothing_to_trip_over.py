"""Nothing for a user to trip over: every page's URL is a bookmark, and a failing page shows an error id to quote
while its traceback goes to the server log (toolbar and error-detail settings: tests/test_streamlit_config.py)."""

from __future__ import annotations

import logging
import re

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

PAGE_FILES = (
    "pages/inspect.py",
    "pages/compare.py",
    "pages/library.py",
    "pages/models.py",
    "pages/train.py",
    "pages/history.py",
    "pages/review.py",
    "pages/live.py",
)


def _finished_url(app: AppTest) -> str:
    """The URL path of the page the last run ended on (AppTest keeps it privately; a browser shows it)."""
    return app._registered_pages[app._finished_page_script_hash]["url_pathname"]


def test_every_page_has_its_own_url_and_the_root_opens_inspect_there(empty_env: object, app: AppTest) -> None:
    app.run()
    assert not app.exception
    pages = app._registered_pages.values()
    urls = [info["url_pathname"] for info in pages]
    assert len(urls) == len(set(urls)), "URL paths are unique"
    files = {info["url_pathname"]: info["script_path"] for info in pages if info["script_path"]}
    assert sorted(files) == sorted(re.sub(r"^pages/(\w+)\.py$", r"\1", page) for page in PAGE_FILES)
    assert "" not in files, "no page file is served only at the root"
    assert [info["page_name"] for info in pages if info["url_pathname"] == ""] == ["AnomalyLens"]
    assert _finished_url(app) == "inspect", "the root URL switches to the Inspect page's own URL"


@pytest.mark.parametrize("page", PAGE_FILES)
def test_each_pages_url_opens_that_page(empty_env: object, app: AppTest, page: str) -> None:
    app.run()
    app.switch_page(page).run()
    assert not app.exception
    assert _finished_url(app) == page.removeprefix("pages/").removesuffix(".py")


def _failing(error: Exception) -> None:
    from components.shared.page_guard import guarded

    with guarded("Broken"):
        raise error


def _error_id(text: str) -> str:
    found = re.search(
        r"Error id ([0-9a-f]{8}): quote it when you report this; the details are in the server log\.$", text
    )
    assert found, text
    return found.group(1)


def test_an_unexpected_error_shows_an_id_to_quote_and_logs_its_traceback_under_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="anomalylens.app"):
        app = AppTest.from_function(_failing, args=(RuntimeError("secret at /srv/models/x.ckpt"),)).run()
    assert not app.exception
    [shown] = [error.value for error in app.error]
    assert shown.startswith("The Broken page could not be shown: an unexpected error. Error id ")
    assert "secret" not in shown and "Traceback" not in shown and "RuntimeError" not in shown
    error_id = _error_id(shown)
    [record] = [r for r in caplog.records if r.name == "anomalylens.app"]
    assert record.getMessage() == f"page Broken failed [error {error_id}]"
    assert record.exc_info and "secret at /srv/models/x.ckpt" in str(record.exc_info[1])


def test_an_input_error_keeps_its_message_as_text_with_an_id() -> None:
    message = "ANOMALYLENS_SEED=-1 is out of range; file <img src=x onerror=alert(1)>.png"
    app = AppTest.from_function(_failing, args=(ValueError(message),)).run()
    [shown] = [error.value for error in app.error]
    rendered = MarkdownIt("commonmark").render(shown)
    assert "<img" not in rendered and "&lt;img src=x onerror=alert(1)&gt;.png" in rendered
    assert "ANOMALYLENS_SEED=-1 is out of range" in rendered
    assert _error_id(shown)


def test_two_failures_get_two_ids() -> None:
    first = AppTest.from_function(_failing, args=(RuntimeError("x"),)).run().error[0].value
    second = AppTest.from_function(_failing, args=(RuntimeError("x"),)).run().error[0].value
    assert _error_id(first) != _error_id(second)
