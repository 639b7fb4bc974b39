"""End to end on a tiny synthetic set: protocol, fit, calibration, evaluation, artefacts, reload."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from services.data.datasets import open_dataset
from services.data.protocol import PSEUDO_DEFECT, build_protocol
from services.modeling.factory import load_model, profile_config
from services.modeling.model_table import model_spec
from services.registry import runs as registry
from services.registry.normal_scores import LEAVE_GROUP_OUT, VALIDATION, VALIDATION_OUT_OF_GROUP, NormalScores
from services.settings import PROJECT_ROOT, Settings
from services.training import calibration as calibration_module
from services.training import evaluation
from services.training.calibration import calibrate
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow

METRIC_FIELDS = {"image_auroc", "image_f1", "image_f1max", "pixel_auroc", "pixel_f1", "pixel_f1max", "pixel_aupro"}


@pytest.fixture(scope="module")
def settings(tiny_registry: TinyRegistry) -> Settings:
    return tiny_registry.settings


@pytest.fixture(scope="module")
def runs(tiny_registry: TinyRegistry) -> list[registry.Run]:
    return list(tiny_registry.runs.values())


def test_protocol_keeps_test_images_out_of_train_and_validation(tiny_synthetic_root: Path, settings: Settings) -> None:
    protocol = build_protocol(open_dataset(tiny_synthetic_root, ("tile",)), "tile", settings, seed=0)
    test_paths = {s.path for s in protocol.test}
    train_paths = {s.path for s in protocol.train}
    assert not test_paths & train_paths
    assert not test_paths & {s.path for s in protocol.validation}
    normals = [s for s in protocol.validation if not s.is_anomalous]
    pseudo = [s for s in protocol.validation if s.is_anomalous]
    assert normals and len(pseudo) == len(normals)
    assert all(s.defect_type == PSEUDO_DEFECT and s.mask_path and s.mask_path.is_file() for s in pseudo)
    assert all("train" in s.path.parts for s in normals) and not {s.path for s in normals} & train_paths


def test_thresholds_never_read_test_files(
    tiny_synthetic_root: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anomalib.engine import Engine

    from services.data import protocol as protocol_module
    from services.data.protocol import ProtocolDataModule
    from services.modeling.factory import build_model

    opened: list[str] = []
    real_read_rgb, real_read_mask = protocol_module.read_rgb, protocol_module.read_mask
    monkeypatch.setattr(protocol_module, "read_rgb", lambda p: opened.append(str(p)) or real_read_rgb(p))
    monkeypatch.setattr(protocol_module, "read_mask", lambda p: opened.append(str(p)) or real_read_mask(p))
    protocol = build_protocol(open_dataset(tiny_synthetic_root, ("tile",)), "tile", settings, seed=0)
    config = replace(profile_config("demo", "patchcore", seed=0), image_size=64, coreset_ratio=0.2)
    model = build_model(config, settings).module
    engine = Engine(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=settings.registry_dir / "tmp",
    )
    engine.fit(model=model, datamodule=ProtocolDataModule(protocol, train_batch_size=4, eval_batch_size=4))
    assert {str(s.path) for s in protocol.train} <= set(opened), "training images bypassed read_rgb"
    real_load = evaluation._load
    monkeypatch.setattr(evaluation, "_load", lambda sample: opened.append(str(sample.path)) or real_load(sample))
    calibrated: list[str] = []
    monkeypatch.setattr(calibration_module, "read_rgb", lambda p: calibrated.append(str(p)) or real_read_rgb(p))
    calibrate(model, protocol.validation_normals, budget=0.01)
    assert set(calibrated) == {str(s.path) for s in protocol.validation_normals}, "held-out normals, read once each"
    opened += calibrated
    test_root = tiny_synthetic_root / "tile"
    leaked = [
        p
        for p in opened
        if Path(p).is_relative_to(test_root / "test") or Path(p).is_relative_to(test_root / "ground_truth")
    ]
    assert leaked == []
    assert np.isfinite(float(model.post_processor.image_threshold))


def _predictions(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def pairwise_auroc(predictions: Path) -> float:
    """AUROC as the share of (defective, good) image pairs whose raw scores are ordered right, ties counting half."""
    rows = _predictions(predictions)
    defective = [float(row["raw_score"]) for row in rows if row["gt_label"] == "1"]
    good = [float(row["raw_score"]) for row in rows if row["gt_label"] == "0"]
    wins = sum((d > g) + 0.5 * (d == g) for d in defective for g in good)
    return wins / (len(defective) * len(good))


def verdict_f1(predictions: Path) -> float:
    """F1 of the stored verdicts: 2 TP / (2 TP + FP + FN)."""
    pairs = [(row["gt_label"], row["pred_label"]) for row in _predictions(predictions)]
    tp, fp, fn = pairs.count(("1", "1")), pairs.count(("0", "1")), pairs.count(("1", "0"))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def test_every_artefact_and_metric_field(runs: list[registry.Run], tiny_synthetic_root: Path) -> None:
    assert sorted(run.record.model for run in runs) == ["efficientad", "patchcore"]
    for run in runs:
        for name in (
            registry.CHECKPOINT,
            registry.METRICS,
            registry.PREDICTIONS,
            registry.CURVES,
            registry.MAPS,
            registry.MANIFEST,
        ):
            assert (run.path / name).is_file(), name
        assert list((run.path / registry.HEATMAPS).glob("*.png"))
        record = run.record
        assert record.dataset == "synthetic" and record.category == "tile" and record.profile == "demo"
        assert set(record.metrics) == METRIC_FIELDS
        assert all(0.0 <= record.metrics[key] <= 1.0 for key in METRIC_FIELDS - {"image_auroc", "image_f1"})
        assert record.metrics["image_auroc"] == pytest.approx(pairwise_auroc(run.path / registry.PREDICTIONS))
        assert record.metrics["image_f1"] == pytest.approx(verdict_f1(run.path / registry.PREDICTIONS))
        assert set(record.thresholds) == {"image", "pixel", "image_min", "image_max", "pixel_min", "pixel_max"}
        assert all(np.isfinite(value) for value in record.thresholds.values())
        assert record.protocol["thresholds_fitted_on"].startswith("validation")
        calibration = record.protocol["calibration"]
        kept = NormalScores.read(run.path)
        assert kept is not None and len(kept.image) == calibration["image"]["n_normals"] >= 2
        held_out = VALIDATION_OUT_OF_GROUP if record.model == "patchcore" else VALIDATION
        assert kept.sources[held_out] == record.protocol["n_validation_normal"]
        assert (LEAVE_GROUP_OUT in kept.sources) == (record.model == "patchcore")
        rule = model_spec(record.model).threshold_rule
        assert calibration["image"]["rule"] == rule and calibration["image"]["budget"] == 0.01
        assert (calibration["image"]["threshold"], calibration["pixel"]["threshold"]) == pytest.approx(
            (record.thresholds["image"], record.thresholds["pixel"])
        )
        assert {"fit_s", "test_ms_per_image", "peak_rss_mb"} <= set(record.timings)
        assert record.versions["anomalib"] == "2.7.0"
        assert record.config["seed"] == 0
        assert record.config["image_size"] == (64 if record.model == "patchcore" else 256)
        assert record.dataset_fingerprint == open_dataset(tiny_synthetic_root, ("tile",)).fingerprint
        assert registry.manifest_status(run.path) == "ok"
        rows = _predictions(run.path / registry.PREDICTIONS)
        assert len(rows) == 3 + 2 * 5
        assert {row["defect_type"] for row in rows} >= {"good", "crack"}
        curves = json.loads((run.path / registry.CURVES).read_text())
        assert set(curves) == {"roc", "pr"} and len(curves["roc"]["x"]) == len(curves["roc"]["y"]) > 1
        maps = np.load(run.path / registry.MAPS)
        size = record.config["image_size"]
        assert maps["maps"].shape == (len(rows), size, size)


def test_manifest_detects_a_modified_file(runs: list[registry.Run]) -> None:
    run = runs[0]
    predictions = run.path / registry.PREDICTIONS
    original = predictions.read_bytes()
    predictions.write_bytes(original + b"\n")
    try:
        assert registry.manifest_status(run.path) == "modified"
    finally:
        predictions.write_bytes(original)
    assert registry.manifest_status(run.path) == "ok"


def test_registry_lists_the_runs(runs: list[registry.Run], settings: Settings) -> None:
    latest = registry.latest_runs(settings, "synthetic")
    assert set(latest) == {("synthetic", "patchcore", "tile"), ("synthetic", "efficientad", "tile")}


RELOAD_SCRIPT = """
import sys, csv, json
from pathlib import Path
import numpy as np
from services.data.datasets import list_samples
from services.training.evaluation import score_samples
from services.modeling.factory import load_model
run, root = Path(sys.argv[1]), Path(sys.argv[2])
record = json.loads((run / "metrics.json").read_text())
model = load_model(record["model"], run / "model.ckpt")
samples = list_samples(root, record["category"], "test")
print(json.dumps(score_samples(model, samples).scored.scores.tolist()))
"""


@pytest.mark.parametrize("model", ["patchcore", "efficientad"])
def test_checkpoint_reloads_in_a_fresh_process_with_the_same_scores(
    runs: list[registry.Run], tiny_synthetic_root: Path, model: str
) -> None:
    run = next(r for r in runs if r.record.model == model)
    result = subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, str(run.path), str(tiny_synthetic_root)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=True,
    )
    reloaded = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    with (run.path / registry.PREDICTIONS).open() as handle:
        recorded = np.array([float(row["score"]) for row in csv.DictReader(handle)])
    assert np.abs(reloaded - recorded).max() <= 1e-5
    assert load_model(model, run.checkpoint).training is False
