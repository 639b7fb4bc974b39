"""Figures reported elsewhere, shown beside ours and always labelled as such (never as our results).

Sources: the reference study's table (anomalib on MVTec-AD with validation = test) and published figures (the
PatchCore paper, WRN-50 with a 10 % coreset; anomalib's EfficientAd-S README). All figures are on the real MVTec-AD,
at the study's or paper's own protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.modeling.model_table import EFFICIENTAD, PATCHCORE

METRIC_KEYS = ("image_auroc", "image_f1", "pixel_auroc", "pixel_f1")


@dataclass(frozen=True)
class ReferenceRow:
    """One model's figures per category, from a named source."""

    source: str
    model: str
    values: dict[str, dict[str, float | None]]  # category -> metric -> value (None = not reported)


REFERENCE_STUDY = "reference study (MVTec-AD, anomalib, val = test)"
PUBLISHED = "published (MVTec-AD)"

REFERENCE_ROWS: tuple[ReferenceRow, ...] = (
    ReferenceRow(
        REFERENCE_STUDY,
        PATCHCORE.name,
        {
            "tile": dict(zip(METRIC_KEYS, (0.987, 0.981, 0.947, 0.620), strict=True)),
            "leather": dict(zip(METRIC_KEYS, (1.000, 0.994, 0.990, 0.442), strict=True)),
            "grid": dict(zip(METRIC_KEYS, (0.980, 0.964, 0.979, 0.376), strict=True)),
        },
    ),
    ReferenceRow(
        REFERENCE_STUDY,
        EFFICIENTAD.name,
        {
            "tile": dict(zip(METRIC_KEYS, (0.996, 0.976, 0.883, 0.681), strict=True)),
            "leather": dict(zip(METRIC_KEYS, (0.622, 0.847, 0.778, 0.232), strict=True)),
            "grid": dict(zip(METRIC_KEYS, (0.720, 0.846, 0.732, 0.127), strict=True)),
        },
    ),
    ReferenceRow(
        f"{PUBLISHED}: PatchCore paper, WRN-50, 10 % coreset",
        PATCHCORE.name,
        {
            "tile": {"image_auroc": 0.989, "image_f1": None, "pixel_auroc": 0.959, "pixel_f1": None},
            "leather": {"image_auroc": 1.000, "image_f1": None, "pixel_auroc": 0.993, "pixel_f1": None},
            "grid": {"image_auroc": 0.979, "image_f1": None, "pixel_auroc": 0.987, "pixel_f1": None},
        },
    ),
    ReferenceRow(
        f"{PUBLISHED}: anomalib README, EfficientAd-S",
        EFFICIENTAD.name,
        {
            "tile": {"image_auroc": 1.000, "image_f1": 1.000, "pixel_auroc": None, "pixel_f1": None},
            "leather": {"image_auroc": 0.997, "image_f1": 0.995, "pixel_auroc": None, "pixel_f1": None},
            "grid": {"image_auroc": 1.000, "image_f1": 1.000, "pixel_auroc": None, "pixel_f1": None},
        },
    ),
)
