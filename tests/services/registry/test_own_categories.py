"""The registry with categories of the user's own: listing, their order, metrics that are not available, and test
results read back from the run folder whatever the dataset's layout."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest

from services.data.datasets import DatasetError
from services.registry import runs as registry
from services.registry.artefacts import defect_types, no_known_defects_reason, read_scores, scored_samples
from services.registry.runs import RunMetrics, metric_text, sorted_categories
from services.settings import Settings
from services.training.evaluation import NO_MASKS, PIXEL_METRICS
from tests.fake_runs import prediction, record, write_run


def test_synthetic_categories_keep_their_order_and_any_other_follows_alphabetically() -> None:
    names = ["pcb_connector", "grid", "tile", "Bottle-2", "grid", "connector.v2"]
    assert sorted_categories(names) == ("tile", "grid", "Bottle-2", "connector.v2", "pcb_connector")
    assert sorted_categories([]) == ()


def test_metric_text_says_n_a_for_what_is_not_available() -> None:
    assert metric_text(0.91249) == "0.912"
    assert metric_text(math.nan) == metric_text(None) == "n/a"


def test_a_record_with_nan_metrics_and_reasons_round_trips(tmp_path: Path) -> None:
    original = record("pcb_connector", unavailable=dict.fromkeys(PIXEL_METRICS, NO_MASKS))
    path = tmp_path / "metrics.json"
    path.write_text(original.to_json())
    loaded = RunMetrics.from_file(path)
    assert loaded.unavailable == dict.fromkeys(PIXEL_METRICS, NO_MASKS)
    assert math.isnan(loaded.metrics["pixel_auroc"]) and loaded.metrics["image_auroc"] == 0.9


def test_an_older_record_without_reasons_loads_with_none(tmp_path: Path) -> None:
    text = record("tile").to_json().replace('"unavailable": {},', "")
    assert "unavailable" not in text
    path = tmp_path / "metrics.json"
    path.write_text(text)
    assert RunMetrics.from_file(path).unavailable == {}


def test_listing_takes_every_category_the_registry_holds(tmp_path: Path) -> None:
    registry_dir = tmp_path / "models"
    for category in ("pcb_connector", "tile", "x-ray_2", "Bottle"):
        write_run(registry_dir, record(category, dataset="synthetic" if category == "tile" else "own"))
    write_run(registry_dir, record("weights_like", dataset="weights"))  # the teacher folder is never a run
    incomplete = write_run(registry_dir, record("half_written"))
    (incomplete.path / registry.CHECKPOINT).unlink()
    settings = Settings(registry_dir=registry_dir)
    listed = {(run.record.dataset, run.record.category) for run in registry.list_runs(settings)}
    assert listed == {("own", "pcb_connector"), ("synthetic", "tile"), ("own", "x-ray_2"), ("own", "Bottle")}
    assert set(registry.latest_runs(settings, "own")) == {
        ("own", "patchcore", "pcb_connector"),
        ("own", "patchcore", "x-ray_2"),
        ("own", "patchcore", "Bottle"),
    }


def _dataset(root: Path) -> list[dict[str, str]]:
    """A folder-layout product: images and a mask where MVTec-AD would not keep them."""
    for relative in ("normal/001.jpg", "defects/solder_bridge/002.jpg", "defects/missing_pin/003.jpg", "m/002.png"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(b"x")
    return [
        prediction("normal/001.jpg", "good", score=0.2),
        prediction("defects/solder_bridge/002.jpg", "solder_bridge", "m/002.png", score=0.8),
        prediction("defects/missing_pin/003.jpg", "missing_pin", score=0.7),
    ]


def test_test_samples_come_from_the_runs_predictions_whatever_the_layout(tmp_path: Path) -> None:
    root = tmp_path / "pcb"
    metrics = replace(record("pcb_connector"), dataset_root=str(root))
    run = write_run(tmp_path / "models", metrics, _dataset(root))
    samples = scored_samples(run, Settings(data_root=tmp_path / "data"))
    assert [(s.path, s.defect_type, s.mask_path) for s in samples] == [
        (root / "normal/001.jpg", "good", None),
        (root / "defects/solder_bridge/002.jpg", "solder_bridge", root / "m/002.png"),
        (root / "defects/missing_pin/003.jpg", "missing_pin", None),
    ]
    assert defect_types(run) == ("missing_pin", "solder_bridge")
    assert no_known_defects_reason(run) is None
    (root / "defects/missing_pin/003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"003\.jpg of run r is not on disk"):
        scored_samples(run, Settings(data_root=tmp_path / "data"))


def test_why_a_run_has_no_known_defect(tmp_path: Path) -> None:
    good_only = write_run(tmp_path / "a", record("bare"), [prediction("good/1.png", "good")])
    unmasked = write_run(tmp_path / "b", record("pcb"), [prediction("good/1.png", "good"), prediction("d/2.png", "d")])
    assert defect_types(good_only) == ()
    assert no_known_defects_reason(good_only) == "its test split has no labelled defects"
    assert no_known_defects_reason(unmasked) == (
        "its defective test images have no ground-truth masks to confirm a region"
    )


def test_predictions_written_before_the_mask_column_read_as_unknown(tmp_path: Path) -> None:
    run = write_run(tmp_path, record("tile"))
    with (run.path / registry.PREDICTIONS).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image_path", "defect_type", "gt_label", "score", "raw_score", "pred_label"])
        writer.writerow(["tile/test/crack/000.png", "crack", "1", "0.9", "3.0", "1"])
    (scored,) = read_scores(run)
    assert scored.mask_path is None and scored.is_anomalous
