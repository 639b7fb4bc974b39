"""Reading a run's stored test results back: scores, curves, test samples, dataset location, size."""

from __future__ import annotations

import csv
from dataclasses import replace

import pytest

from services.registry import runs as registry
from services.registry.artefacts import dataset_root, disk_size_bytes, read_curves, read_scores, scored_samples
from services.registry.runs import Run
from services.settings import Settings
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tiny_registry: TinyRegistry) -> Run:
    return tiny_registry.runs["patchcore"]


def test_scores_follow_predictions_csv(run: Run) -> None:
    scores = read_scores(run)
    with (run.path / registry.PREDICTIONS).open() as handle:
        rows = list(csv.DictReader(handle))
    assert [s.image_path for s in scores] == [row["image_path"] for row in rows]
    assert [s.is_anomalous for s in scores] == [s.defect_type != "good" for s in scores]
    assert [(s.defect_type, s.score) for s in scores] == [(row["defect_type"], float(row["score"])) for row in rows]
    assert all(0.0 <= s.score <= 1.0 for s in scores)
    assert [s.predicted_anomalous for s in scores] == [row["pred_label"] == "1" for row in rows]
    assert {s.defect_type for s in scores} >= {"good", "crack"}


def test_curves_have_matching_points(run: Run) -> None:
    curves = read_curves(run)
    assert set(curves) == {"roc", "pr"}
    roc = curves["roc"]
    assert len(roc.x) == len(roc.y) > 1
    assert roc.x[0] == 0.0 and roc.x[-1] == 1.0 and list(roc.x) == sorted(roc.x)


def test_samples_come_from_the_recorded_dataset_root(run: Run, tiny_registry: TinyRegistry) -> None:
    settings = tiny_registry.settings
    assert dataset_root(run, settings) == tiny_registry.dataset_root
    samples = scored_samples(run, settings)
    assert {s.path.relative_to(tiny_registry.dataset_root).as_posix() for s in samples} == {
        s.image_path for s in read_scores(run)
    }


def test_a_moved_dataset_is_looked_up_under_the_data_root(run: Run, tmp_path: object) -> None:
    moved = Run(path=run.path, record=replace(run.record, dataset_root="/nowhere/synthetic"))
    settings = Settings(data_root=tmp_path)  # type: ignore[arg-type]
    assert dataset_root(moved, settings) == settings.data_root / "synthetic"


def test_disk_size_adds_up_the_run_files(run: Run) -> None:
    files = [path for path in run.path.rglob("*") if path.is_file()]
    assert disk_size_bytes(run) == sum(path.stat().st_size for path in files) > (run.path / "model.ckpt").stat().st_size
