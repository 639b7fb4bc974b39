"""One category's samples as any layout adapter reads them, and the rules on how many normal images it needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.data.datasets import Sample
from services.data.errors import DatasetProblem

Layout = Literal["mvtec", "folder"]
LAYOUTS: tuple[Layout, ...] = ("mvtec", "folder")

MIN_FIT_NORMALS = 2
"""Normal training images a model is fitted on, at least."""
MIN_CALIBRATION_NORMALS = 2
"""Normal training images held out to calibrate thresholds on (with pseudo-anomalous copies of them), at least."""
MIN_TRAIN_NORMALS = MIN_FIT_NORMALS + MIN_CALIBRATION_NORMALS
NO_DEFECTS_NOTE = (
    "no labelled defects: the model trains and calibrates on normal images alone, and test metrics are not available"
)


@dataclass(frozen=True)
class CategoryData:
    """The train and test samples of one category, whatever layout they came from, and what was assumed reading it."""

    category: str
    layout: Layout
    train: tuple[Sample, ...]
    test: tuple[Sample, ...]
    notes: tuple[str, ...]

    @property
    def defects(self) -> tuple[Sample, ...]:
        """The anomalous test samples."""
        return tuple(sample for sample in self.test if sample.is_anomalous)

    @property
    def has_defects(self) -> bool:
        """True when the test split holds at least one labelled defect image."""
        return bool(self.defects)

    @property
    def defect_types(self) -> tuple[str, ...]:
        """The defect types of the test split, sorted."""
        return tuple(sorted({sample.defect_type for sample in self.defects}))

    @property
    def masked_defects(self) -> int:
        """How many defect images have a pixel mask; the others are labelled at image level only."""
        return sum(sample.mask_path is not None for sample in self.defects)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every image and mask file the samples use."""
        samples = (*self.train, *self.test)
        return tuple(dict.fromkeys([*(s.path for s in samples), *(s.mask_path for s in samples if s.mask_path)]))


def defect_notes(test: Sequence[Sample]) -> tuple[str, ...]:
    """What a test split implies for the metrics: no labelled defects at all, or defects without masks."""
    defects = [sample for sample in test if sample.is_anomalous]
    if not defects:
        return (NO_DEFECTS_NOTE,)
    unmasked = sum(sample.mask_path is None for sample in defects)
    if not unmasked:
        return ()
    if unmasked == len(defects):
        return (f"none of the {unmasked} defect images has a mask: image-level only, pixel metrics are not available",)
    return (
        f"{unmasked} of {len(defects)} defect images have no mask: they count at image level only; pixel metrics use "
        f"the {len(defects) - unmasked} with masks",
    )


def too_few_normals(folder: Path, found: int, needed: int, test_hold_out: int = 0) -> DatasetProblem:
    """The problem of a normal folder with fewer than ``needed`` images; ``test_hold_out``: how many of them are
    held out for testing."""
    testing = f", and {test_hold_out} held out for testing" if test_hold_out else ""
    message = (
        f"too few normal images in {folder}: {found} found, at least {needed} are needed "
        f"({MIN_FIT_NORMALS} to fit the model on, {MIN_CALIBRATION_NORMALS} held out to calibrate its thresholds"
        f"{testing})"
    )
    return DatasetProblem(folder, message)
