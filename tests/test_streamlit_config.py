"""The app's Streamlit settings: fast reruns, offline, nothing for a user to trip over, upload limit from settings."""

from __future__ import annotations

import ast
import sys
import tomllib

import pytest

from services.cli.commands import serve_argv
from services.settings import PROJECT_ROOT, Settings


def _config() -> dict:
    return tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())


def test_no_full_garbage_collection_after_every_script_run() -> None:
    assert _config()["runner"]["postScriptGC"] is False


def test_source_files_are_not_watched() -> None:
    """The watcher scans every imported module on the event loop for each new session, then polls them all."""
    assert _config()["server"]["fileWatcherType"] == "none"


def test_no_usage_statistics_are_sent() -> None:
    assert _config()["browser"]["gatherUsageStats"] is False


def test_the_developer_toolbar_is_hidden_from_users() -> None:
    """No "Deploy" button, rerun or clear-cache items: Streamlit 1.67's "viewer" mode (or "minimal")."""
    assert _config()["client"]["toolbarMode"] in ("viewer", "minimal")


def test_an_error_outside_the_page_guard_shows_no_details_in_the_browser() -> None:
    assert _config()["client"]["showErrorDetails"] == "none"


def test_serve_sets_streamlits_upload_limit_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line ``make run`` and the container use, parsed by Streamlit's own CLI (nothing is started)."""
    from streamlit.web import cli

    settings = Settings.from_env({"ANOMALYLENS_MAX_UPLOAD_MB": "123"})
    argv = serve_argv(settings, port=8502, address="0.0.0.0")
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    started: dict[str, object] = {}
    monkeypatch.setattr(cli, "_main_run", lambda script, args=None, flag_options=None: started.update(flag_options))
    cli.main(args=argv[3:], standalone_mode=False)
    assert started["server_maxUploadSize"] == 123
    assert (started["server_port"], started["server_address"], started["server_headless"]) == (8502, "0.0.0.0", True)


def test_make_run_starts_the_app_through_serve() -> None:
    run_target = (PROJECT_ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "-m services.cli serve" in run_target and "streamlit run" not in run_target


def _bare_strings(statements: list[ast.stmt], top: bool) -> list[int]:
    """Lines of string expressions Streamlit's magic would draw: every one outside a docstring's place."""
    found = []
    for index, statement in enumerate(statements):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        value = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str) and not (top and index == 0):
            found.append(statement.lineno)
        for field in ("body", "orelse", "finalbody"):
            found += _bare_strings(getattr(statement, field, []), top=False)
    return found


@pytest.mark.parametrize(
    "script", ["app.py", *sorted(f"pages/{path.name}" for path in (PROJECT_ROOT / "pages").glob("*.py"))]
)
def test_no_script_holds_a_bare_string_that_streamlit_would_draw(script: str) -> None:
    """Streamlit's magic writes every bare string of a script onto the page (an attribute docstring showed on every
    page): only the module docstring may stand alone."""
    assert _bare_strings(ast.parse((PROJECT_ROOT / script).read_text()).body, top=True) == []
