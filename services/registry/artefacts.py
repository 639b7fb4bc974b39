"""A run's stored test results read back for display: per-image scores, image-level curves, test samples, disk size.

Nothing here loads a model; everything comes from the files training wrote into the run folder (``predictions.csv``,
``curves.json``) and from the dataset the run was scored on.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from services.data.datasets import Sample, list_samples
from services.registry import runs as registry
from services.registry.runs import Run
from services.settings import Settings


@dataclass(frozen=True)
class CurvePoints:
    """Points of one image-level curve as stored in ``curves.json`` (ROC: x = FPR, y = TPR; PR: x = recall)."""

    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class ScoredImage:
    """One test image's row of ``predictions.csv``."""

    image_path: str
    """Relative to the dataset root, e.g. ``tile/test/crack/000.png``."""
    defect_type: str
    is_anomalous: bool
    """Ground truth."""
    score: float
    """Normalised score; 0.5 is the calibrated threshold."""
    predicted_anomalous: bool


def read_scores(run: Run) -> list[ScoredImage]:
    """Every test image's ground truth, normalised score and verdict, in the order training scored them."""
    with (run.path / registry.PREDICTIONS).open(newline="") as handle:
        return [
            ScoredImage(
                image_path=row["image_path"],
                defect_type=row["defect_type"],
                is_anomalous=row["gt_label"] == "1",
                score=float(row["score"]),
                predicted_anomalous=row["pred_label"] == "1",
            )
            for row in csv.DictReader(handle)
        ]


def read_curves(run: Run) -> dict[str, CurvePoints]:
    """The image-level ``roc`` and ``pr`` curves."""
    stored = json.loads((run.path / registry.CURVES).read_text())
    return {name: CurvePoints(x=tuple(curve["x"]), y=tuple(curve["y"])) for name, curve in stored.items()}


def dataset_root(run: Run, settings: Settings) -> Path:
    """Where the run's dataset is now: the recorded root, else ``<data root>/<dataset>`` when it has moved."""
    recorded = Path(run.record.dataset_root)
    if run.record.dataset_root and (recorded / run.record.category).is_dir():
        return recorded
    return settings.data_root / run.record.dataset


def scored_samples(run: Run, settings: Settings) -> list[Sample]:
    """The test images the run was scored on (raises ``DatasetError`` when the dataset is not on disk)."""
    return list_samples(dataset_root(run, settings), run.record.category, "test")


def disk_size_bytes(run: Run) -> int:
    """Total size of the run folder's files."""
    return sum(path.stat().st_size for path in run.path.rglob("*") if path.is_file())
