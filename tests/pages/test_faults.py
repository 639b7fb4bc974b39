"""Faults the pages survive, on a copy of the fixture registry: a run's checkpoint changed after training."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.registry.runs import list_runs
from services.settings import get_settings
from tests.pages.conftest import PageRegistry

pytestmark = pytest.mark.slow


def _defect_image(page_registry: PageRegistry) -> bytes:
    return next((page_registry.dataset_root / "tile" / "test" / "crack").glob("*.png")).read_bytes()


def test_a_run_whose_checkpoint_changed_is_refused_with_the_reason_and_the_other_model_works(
    registry_env: PageRegistry, registry_copy: Path, app: AppTest
) -> None:
    (patchcore,) = [run for run in list_runs(get_settings()) if run.record.model == "patchcore"]
    with patchcore.checkpoint.open("ab") as checkpoint:
        checkpoint.write(b"\0")
    app.run()
    assert not app.exception
    (refusal,) = [error.value for error in app.sidebar.error]
    assert refusal.startswith("Not offered: run ") and "is refused: its model" in refusal
    assert str(patchcore.path.name) in refusal.replace("\\", "")
    assert app.radio(key="model").options == ["EfficientAd"]
    app.file_uploader(key="inspect_upload").set_value([("part.png", _defect_image(registry_env), "image/png")])
    app.run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1
    assert {prediction.model for prediction in app.session_state["_predictions"].values()} == {"efficientad"}
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    ours = next(frame.value for frame in app.dataframe if "Category" in frame.value.columns)
    assert set(ours["Model"]) == {"EfficientAd"}
    assert len(app.sidebar.error) == 1, "every page shows the refusal"
