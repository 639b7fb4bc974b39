"""Run folders written by hand (a metrics record, a placeholder checkpoint, predictions), for listing and display tests
that need no trained model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from services.registry import runs as registry
from services.registry.runs import Run, RunMetrics
from services.training.evaluation import IMAGE_METRICS, PIXEL_METRICS

PREDICTION_FIELDS = ("image_path", "defect_type", "gt_label", "score", "raw_score", "pred_label", "mask_path")


def record(
    category: str,
    *,
    model: str = "patchcore",
    dataset: str = "own",
    value: float = 0.9,
    unavailable: dict[str, str] | None = None,
    created_at: str = "2026-12-01T00:00:00+00:00",
) -> RunMetrics:
    """A complete record whose metrics are all ``value``, except the ``unavailable`` ones (NaN)."""
    unavailable = unavailable or {}
    metrics = {key: float("nan") if key in unavailable else value for key in IMAGE_METRICS + PIXEL_METRICS}
    return RunMetrics(
        dataset=dataset,
        dataset_version="1",
        dataset_fingerprint="f",
        model=model,
        category=category,
        run="r",
        profile="demo",
        metrics=metrics,
        thresholds={"image": 1.0, "pixel": 1.0},
        config={"image_size": 64},
        protocol={},
        timings={"fit_s": 1.0, "test_ms_per_image": 2.0, "peak_rss_mb": 300},
        versions={},
        created_at=created_at,
        device="cpu",
        unavailable=unavailable,
    )


def write_run(registry_dir: Path, metrics: RunMetrics, predictions: list[dict[str, str]] | None = None) -> Run:
    """``<registry>/<dataset>/<model>/<category>/<run>`` with the record, a placeholder checkpoint and predictions."""
    path = registry_dir / metrics.dataset / metrics.model / metrics.category / metrics.run
    path.mkdir(parents=True, exist_ok=True)
    (path / registry.METRICS).write_text(metrics.to_json())
    (path / registry.CHECKPOINT).write_bytes(b"placeholder")
    (path / registry.CURVES).write_text(json.dumps({}))
    with (path / registry.PREDICTIONS).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, PREDICTION_FIELDS)
        writer.writeheader()
        writer.writerows(predictions or [])
    return registry.load_run(path)


def prediction(image_path: str, defect_type: str, mask_path: str = "", score: float = 0.5) -> dict[str, str]:
    """One row of ``predictions.csv``."""
    anomalous = str(int(defect_type != "good"))
    return {
        "image_path": image_path,
        "defect_type": defect_type,
        "gt_label": anomalous,
        "score": f"{score:.6f}",
        "raw_score": f"{score:.6f}",
        "pred_label": str(int(score > 0.5)),
        "mask_path": mask_path,
    }
