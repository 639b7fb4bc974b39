"""A run's stored test results read back for display: per-image scores, image-level curves, test samples, disk size.

Nothing here loads a model; everything comes from the files training wrote into the run folder (``predictions.csv``,
``curves.json``) and from the dataset the run was scored on, whatever its layout.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from services.data.category_data import Layout
from services.data.datasets import DatasetError, Sample, Split
from services.data.layouts import read_category
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
    mask_path: str | None = None
    """The ground-truth mask relative to the dataset root; ``""`` for none, ``None`` where the run predates the
    column."""


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
                mask_path=row.get("mask_path"),
            )
            for row in csv.DictReader(handle)
        ]


def read_curves(run: Run) -> dict[str, CurvePoints]:
    """The image-level ``roc`` and ``pr`` curves; none where the test split lacks defective or normal images."""
    stored = json.loads((run.path / registry.CURVES).read_text())
    return {name: CurvePoints(x=tuple(curve["x"]), y=tuple(curve["y"])) for name, curve in stored.items()}


def run_layout(run: Run) -> Layout:
    """The layout the run's dataset was read in (runs from before layouts were recorded are MVTec layout)."""
    return run.record.protocol.get("layout", "mvtec")


def defect_types(run: Run) -> tuple[str, ...]:
    """The defect types of the run's test images, sorted (none for a test split of normal images only)."""
    return tuple(sorted({image.defect_type for image in read_scores(run) if image.is_anomalous}))


def no_known_defects_reason(run: Run) -> str | None:
    """Why the run has no known defect for the similar-defect library (regions confirmed by a ground-truth mask), or
    ``None`` when it has defective test images with masks."""
    defective = [image for image in read_scores(run) if image.is_anomalous]
    if not defective:
        return "its test split has no labelled defects"
    if all(image.mask_path == "" for image in defective):
        return "its defective test images have no ground-truth masks to confirm a region"
    return None


def dataset_root(run: Run, settings: Settings) -> Path:
    """Where the run's dataset is now: the recorded root, else ``<data root>/<dataset>`` when it has moved."""
    recorded = Path(run.record.dataset_root)
    if run.record.dataset_root and recorded.is_dir():
        return recorded
    return settings.data_root / run.record.dataset


def run_samples(run: Run, split: Split, root: Path | None = None) -> list[Sample]:
    """The run's train or test images, listed again from its dataset at ``root`` (default: the recorded root) with
    the run's layout and seed; raises ``DatasetError`` when the dataset is not on disk."""
    record = run.record
    data = read_category(
        root or Path(record.dataset_root),
        record.category,
        layout=run_layout(run),
        seed=int(record.protocol.get("seed", 0)),
    )
    return list(data.train if split == "train" else data.test)


def scored_samples(run: Run, settings: Settings) -> list[Sample]:
    """The test images the run was scored on, as ``predictions.csv`` lists them (raises ``DatasetError`` when one of
    them is not on disk)."""
    root = dataset_root(run, settings)
    samples = [
        Sample(
            path=root / image.image_path,
            split="test",
            defect_type=image.defect_type,
            mask_path=root / image.mask_path if image.mask_path else None,
        )
        for image in read_scores(run)
    ]
    missing = next((sample.path for sample in samples if not sample.path.is_file()), None)
    if missing is not None:
        raise DatasetError(f"test image {missing} of run {run.record.run} is not on disk")
    return samples


def disk_size_bytes(run: Run) -> int:
    """Total size of the run folder's files."""
    return sum(path.stat().st_size for path in run.path.rglob("*") if path.is_file())
