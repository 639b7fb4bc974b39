"""Every page on a registry that holds products of the user's own beside the demo's: a good-only product and one
without masks, whose metrics are "n/a" with the reason; never an exception or an error box."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.registry import runs as registry
from services.registry.runs import Run
from services.settings import get_settings
from services.training.evaluation import IMAGE_METRICS, NO_DEFECTS, NO_MASKS, PIXEL_METRICS
from tests.conftest import TinyRegistry
from tests.pages.conftest import PageRegistry, _point_settings_at

pytestmark = pytest.mark.slow

GOOD_ONLY = "pcb_connector"
NO_MASK = "bottle-2"
PAGES = ("pages/inspect.py", "pages/compare.py", "pages/library.py", "pages/models.py")


def _copy(
    run: Run, registry_dir: Path, category: str, row: Callable[[dict[str, str]], dict[str, str] | None], why: str
) -> None:
    """The trained run under another category: its predictions rewritten by ``row`` (None drops one), and the metrics
    that ``why`` (if any) makes unavailable set to NaN with that reason; no curves without defects."""
    unavailable = (
        dict.fromkeys(IMAGE_METRICS + PIXEL_METRICS if why == NO_DEFECTS else PIXEL_METRICS, why) if why else {}
    )
    target = registry_dir / run.record.dataset / run.record.model / category / run.record.run
    shutil.copytree(run.path, target, ignore=shutil.ignore_patterns(registry.EXPORT_CACHE))
    with (run.path / registry.PREDICTIONS).open() as handle:
        rows = [changed for original in csv.DictReader(handle) if (changed := row(original)) is not None]
    with (target / registry.PREDICTIONS).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if why == NO_DEFECTS:
        (target / registry.CURVES).write_text(json.dumps({}))
    metrics = {key: math.nan if key in unavailable else value for key, value in run.record.metrics.items()}
    record = replace(run.record, category=category, metrics=metrics, unavailable=unavailable)
    (target / registry.METRICS).write_text(record.to_json())
    registry.write_manifest(target)


@pytest.fixture(scope="module")
def own_registry(tiny_registry: TinyRegistry, tmp_path_factory: pytest.TempPathFactory) -> PageRegistry:
    """The tiny PatchCore run as ``tile``, as a good-only ``pcb_connector`` and as a maskless ``bottle-2``."""
    base = tmp_path_factory.mktemp("own_pages")
    registry_dir, run = base / "models", tiny_registry.runs["patchcore"]
    _copy(run, registry_dir, "tile", lambda row: row, "")
    _copy(run, registry_dir, GOOD_ONLY, lambda row: row if row["defect_type"] == "good" else None, NO_DEFECTS)
    _copy(run, registry_dir, NO_MASK, lambda row: {**row, "mask_path": ""}, NO_MASKS)
    return PageRegistry(registry_dir=registry_dir, data_root=base / "data", dataset_root=tiny_registry.dataset_root)


@pytest.fixture
def own_env(own_registry: PageRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[PageRegistry]:
    _point_settings_at(monkeypatch, own_registry.registry_dir, own_registry.data_root, tmp_path / "records.db")
    yield own_registry
    get_settings.cache_clear()


def _open(app: AppTest, page: str, category: str) -> AppTest:
    app.run()
    app.switch_page(page).run()
    app.sidebar.selectbox(key="category").set_value(category).run()
    assert not app.exception, app.exception
    assert not app.error, [error.value for error in app.error]
    return app


def test_sidebar_offers_every_category_demo_first_then_alphabetical(own_env: PageRegistry, app: AppTest) -> None:
    app.run()
    assert app.sidebar.selectbox(key="category").options == ["tile", NO_MASK, GOOD_ONLY]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("category", [GOOD_ONLY, NO_MASK])
def test_every_page_renders_an_own_product(own_env: PageRegistry, app: AppTest, page: str, category: str) -> None:
    _open(app, page, category)


def test_compare_shows_n_a_with_the_reason_and_says_why_there_is_no_curve(own_env: PageRegistry, app: AppTest) -> None:
    _open(app, "pages/compare.py", GOOD_ONLY)
    ours, _reference = (frame.value for frame in app.dataframe)
    good_only = ours[ours["Category"] == GOOD_ONLY].iloc[0]
    assert math.isnan(good_only["Image AUROC"]) and math.isnan(good_only["Pixel AUPRO@0.3"])
    assert not math.isnan(ours[ours["Category"] == "tile"].iloc[0]["Image AUROC"])
    captions = " ".join(caption.value for caption in app.caption)
    assert f"patchcore · {GOOD_ONLY}: Image AUROC" in captions and NO_DEFECTS in captions
    assert f"patchcore · {NO_MASK}: Pixel AUROC" in captions and NO_MASKS in captions
    assert any(f"No ROC or PR curve · {GOOD_ONLY}: PatchCore: {NO_DEFECTS}" in info.value for info in app.info)
    charts = {chart.key for chart in app.get("plotly_chart")}
    assert {"bars__image_auroc", "score_distribution", "cost_chart"} <= charts
    assert not {"curve__roc", "curve__pr"} & charts


def test_models_table_gives_the_reason_beside_each_n_a(own_env: PageRegistry, app: AppTest) -> None:
    _open(app, "pages/models.py", GOOD_ONLY)
    table = next(frame.value for frame in app.dataframe if "Not available" in frame.value.columns)
    reasons = dict(zip(table["Category"], table["Not available"], strict=True))
    assert reasons["tile"] == ""
    assert reasons[NO_MASK] == f"Pixel AUROC, Pixel F1, Pixel F1Max (oracle thr.), Pixel AUPRO@0.3: {NO_MASKS}"
    assert reasons[GOOD_ONLY].endswith(f": {NO_DEFECTS}")
    assert math.isnan(table[table["Category"] == GOOD_ONLY].iloc[0]["I-AUROC"])


def test_library_and_neighbours_say_why_a_good_only_product_has_no_known_defect(
    own_env: PageRegistry, app: AppTest
) -> None:
    _open(app, "pages/library.py", GOOD_ONLY)
    app.selectbox(key="library_category").set_value(GOOD_ONLY).run()
    assert app.selectbox(key="library_defect").options == ["all"]
    assert any("its test split has no labelled defects" in info.value for info in app.info)


def test_inspect_scores_a_test_sample_of_a_good_only_product(own_env: PageRegistry, app: AppTest) -> None:
    _open(app, "pages/inspect.py", GOOD_ONLY)
    app.radio(key="inspect_source").set_value("Test-set sample").run()
    labels = app.selectbox(key="inspect_sample").options
    assert labels and all(label.startswith("good / ") for label in labels)
    assert not app.exception
    assert [m for m in app.metric if m.label == "Anomaly score"]
