"""The product gate's notice: it names the product where the gate fired, and shows nothing otherwise."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _notice(distance: float) -> None:
    import numpy as np
    import streamlit as st

    from components.inspect import foreign_notice
    from services.inference.detector import Prediction
    from services.training.product_gate import ForeignCheck

    check = ForeignCheck(product="tile", distance=distance, threshold=0.3)
    prediction = Prediction("brick.png", "patchcore", "run", 1.0, 0.5, np.ones((8, 8), np.float32), (), foreign=check)
    st.session_state["fired"] = foreign_notice.render(prediction)


def _run(distance: float) -> AppTest:
    app = AppTest.from_function(_notice, args=(distance,), default_timeout=60)
    return app.run()


def test_a_foreign_upload_is_answered_with_the_product_name_instead_of_a_verdict() -> None:
    app = _run(0.9)
    assert not app.exception and app.session_state["fired"]
    (warning,) = app.warning
    assert "Does not look like a **tile** part" in warning.value and "wrong product or camera" in warning.value
    assert "0.900" in app.caption[0].value and "0.300" in app.caption[0].value


def test_an_upload_of_the_product_shows_no_notice() -> None:
    app = _run(0.1)
    assert not app.exception and not app.session_state["fired"]
    assert not app.warning and not app.caption
