"""Every page of the app rendered through AppTest on the fixture registry, and the first-start state."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from services.registry.runs import list_runs
from services.settings import get_settings
from tests.pages.conftest import PageRegistry

PAGES = (
    "pages/inspect.py",
    "pages/compare.py",
    "pages/library.py",
    "pages/models.py",
    "pages/history.py",
    "pages/review.py",
)


def test_empty_registry_explains_how_to_build_one(empty_env: object, app: AppTest) -> None:
    app.run()
    assert not app.exception
    commands = [code.value for code in app.code]
    assert "python -m services.cli demo" in commands
    assert any("holds no trained run yet" in info.value for info in app.info)
    assert not app.get("plotly_chart")


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error_and_shows_the_runs_in_use(
    registry_env: PageRegistry, app: AppTest, page: str
) -> None:
    app.run()
    app.switch_page(page).run()
    assert not app.exception
    assert not app.error
    cards = [m.value for m in app.sidebar.markdown if "synthetic" in m.value]
    assert cards, "the sidebar names the run in use and its dataset"
    assert any("trained " in caption.value and "px" in caption.value for caption in app.sidebar.caption)


@pytest.mark.slow
def test_compare_shows_table_charts_and_csv(registry_env: PageRegistry, app: AppTest) -> None:
    app.run()
    app.switch_page("pages/compare.py").run()
    ours, reference = (frame.value for frame in app.dataframe)
    assert set(ours["Model"]) == {"PatchCore", "EfficientAd"}
    assert set(ours["Category"]) == {"tile", "average"}
    assert "Source" not in ours.columns and {"Image AUROC", "Pixel F1"} <= set(ours.columns)
    assert any("AnomalyLens (synthetic, demo)" in m.value for m in app.markdown)
    assert all(source.startswith(("reference study", "published")) for source in reference["Source"])
    csv_button = app.download_button(key="table_csv")
    assert csv_button.label == "Download table (CSV)"
    charts = {chart.key for chart in app.get("plotly_chart")}
    assert {
        "bars__image_auroc",
        "bars__pixel_f1",
        "curve__roc",
        "curve__pr",
        "score_distribution",
        "cost_chart",
    } <= charts


@pytest.mark.slow
def test_models_lists_every_run_with_its_integrity(registry_env: PageRegistry, app: AppTest) -> None:
    app.run()
    app.switch_page("pages/models.py").run()
    table = next(frame.value for frame in app.dataframe if "sha256" in frame.value.columns)
    assert sorted(table["Model"]) == ["EfficientAd", "PatchCore"]
    assert set(table["sha256"]) == {"ok"}
    runs = list_runs(get_settings())
    assert sorted(table["Image size"]) == sorted(run.record.config["image_size"] for run in runs)
    recorded = {run.record.model: run.record.metrics["image_auroc"] for run in runs}
    shown = dict(zip(table["Model"], table["I-AUROC"], strict=True))
    assert shown == pytest.approx({"PatchCore": recorded["patchcore"], "EfficientAd": recorded["efficientad"]})
    assert any(code.value == "python -m services.cli demo" for code in app.code)


@pytest.mark.slow
def test_defect_library_browses_cases_and_shows_a_cases_neighbours(registry_env: PageRegistry, app: AppTest) -> None:
    app.run()
    app.switch_page("pages/library.py").run()
    assert not app.exception
    case_buttons = [button for button in app.button if str(button.key).startswith("case__")]
    assert case_buttons
    case_buttons[-1].click().run()
    assert app.session_state["library_case"] == case_buttons[-1].key.removeprefix("case__")
    headings = [m.value for m in app.markdown if m.value.startswith("**Nearest anomalous neighbours**")]
    assert len(headings) == 1
    app.selectbox(key="library_defect").set_value("crack").run()
    labels = [button.label for button in app.button if str(button.key).startswith("case__")]
    assert labels and all(label.startswith("crack ·") for label in labels)


def test_a_deep_link_on_a_fresh_process_still_runs_inside_the_app(empty_env: object, app: AppTest) -> None:
    app.switch_page("pages/models.py").run()
    assert not app.exception
    assert any("holds no trained run yet" in info.value for info in app.info), "app.py ran and saw the empty registry"
    assert "Models" not in [title.value for title in app.title]


@pytest.mark.slow
def test_models_flags_a_run_whose_files_changed(registry_env: PageRegistry, app: AppTest) -> None:
    run = list_runs(get_settings())[0]
    predictions = run.path / "predictions.csv"
    original = predictions.read_bytes()
    predictions.write_bytes(original + b"\n")
    try:
        app.run()
        app.switch_page("pages/models.py").run()
        table = next(frame.value for frame in app.dataframe if "sha256" in frame.value.columns)
        assert sorted(table["sha256"]) == ["MODIFIED", "ok"]
    finally:
        predictions.write_bytes(original)
