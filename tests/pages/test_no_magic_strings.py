"""The scripts Streamlit runs (``app.py``, ``pages/*.py``) hold no bare string below their docstring: Streamlit's
magic writes such a string onto the page (the app's root and Live pages used to show their variables' notes)."""

from __future__ import annotations

import ast

from services.settings import PROJECT_ROOT

SCRIPTS = [PROJECT_ROOT / "app.py", *sorted((PROJECT_ROOT / "pages").glob("*.py"))]


def bare_strings(source: str) -> list[int]:
    """Lines of the module-level string expressions after the first statement (the docstring)."""
    body = ast.parse(source).body
    return [
        node.lineno
        for node in body[1:]
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    ]


def test_the_check_sees_a_note_under_a_variable_but_not_the_docstring() -> None:
    assert bare_strings('"""Doc."""\nX = 1\n"""Note."""\nprint("x")\n') == [3]


def test_no_script_streamlit_runs_writes_a_note_onto_its_page() -> None:
    found = {script.name: bare_strings(script.read_text()) for script in SCRIPTS}
    assert {name: lines for name, lines in found.items() if lines} == {}
