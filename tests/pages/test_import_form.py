"""The Models page's import form: the trust warning and a refusal the user can act on, without a traceback."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest


def _import_form() -> None:
    from components.models import import_form

    import_form.render()


def test_a_submit_without_a_model_file_is_refused_and_trust_shows_the_pickle_warning(empty_env: Path) -> None:
    app = AppTest.from_function(_import_form, default_timeout=120)
    app.run()
    assert not app.warning, "no warning before the user ticks trust"
    app.text_input(key="import_category").input("pcb_connector")
    app.checkbox(key="import_trust").check()
    app.button[0].click()
    app.run()
    assert not app.exception
    assert [error.value for error in app.error] == [
        "upload one model file (.ckpt, .xml with its .bin, or .pt); got none"
    ]
    assert "pickle" in app.warning[0].value and "--trust" in app.warning[0].value
    assert not (empty_env / "models").exists(), "nothing was written to the registry"
