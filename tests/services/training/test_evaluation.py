"""Metric computation on hand-made scores: validation-threshold F1 versus the oracle F1Max, AUROC, AUPRO, curves; pixel
metrics over the images with known pixel truth, NaN with a reason where the test split cannot define a metric; scoring
images of mixed sizes."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from anomalib.data import InferenceBatch
from PIL import Image
from torchvision.transforms.v2 import Resize

from services.data.datasets import Sample
from services.modeling.scoring import ScoredBatch
from services.training.evaluation import (
    IMAGE_METRICS,
    NO_DEFECTS,
    NO_MASKS,
    NO_NORMALS,
    PIXEL_METRICS,
    ScoredTestSet,
    compute_metrics,
    image_curves,
    score_samples,
)


def _normal(index: int) -> Sample:
    return Sample(Path(f"{index}.png"), "test", "good", None)


def _scores(raw: list[float], labels: list[bool], threshold: float) -> ScoredTestSet:
    n, size = len(raw), 8
    raw_scores = np.array(raw, np.float32)
    gt_masks = np.zeros((n, size, size), bool)
    raw_maps = np.zeros((n, size, size), np.float32)
    for i, anomalous in enumerate(labels):
        raw_maps[i] = raw_scores[i] * 0.1
        if anomalous:
            gt_masks[i, 2:5, 2:5] = True
            raw_maps[i, 2:5, 2:5] = raw_scores[i]
    samples = tuple(
        Sample(Path(f"{i}.png"), "test", "crack", Path(f"{i}_mask.png")) if anomalous else _normal(i)
        for i, anomalous in enumerate(labels)
    )
    normalised = np.clip(raw_scores - threshold + 0.5, 0, 1)
    scored = ScoredBatch(
        raw_scores=raw_scores,
        raw_maps=raw_maps,
        scores=normalised,
        maps=np.clip(raw_maps - threshold + 0.5, 0, 1),
        labels=normalised > 0.5,
        masks=raw_maps > threshold,
    )
    return ScoredTestSet(samples=samples, scored=scored, gt_masks=gt_masks)


def test_f1_uses_the_given_threshold_and_f1max_the_oracle() -> None:
    labels = [False, False, False, True, True, True]
    scores = _scores([0.1, 0.2, 0.7, 0.6, 0.8, 0.9], labels, threshold=0.85)
    metrics = compute_metrics(scores)
    assert metrics.image_f1 == pytest.approx(0.5)  # only 0.9 passes the validation threshold: P=1, R=1/3
    assert metrics.image_f1max == pytest.approx(6 / 7)  # best threshold 0.6: TP=3, FP=1
    assert metrics.image_auroc == pytest.approx(8 / 9)
    assert metrics.image_f1max >= metrics.image_f1


def test_perfect_separation_gives_perfect_pixel_metrics() -> None:
    metrics = compute_metrics(_scores([0.1, 0.2, 0.9, 0.95], [False, False, True, True], threshold=0.5))
    assert metrics.pixel_auroc == pytest.approx(1.0)
    assert metrics.pixel_f1 == pytest.approx(1.0)
    assert metrics.pixel_aupro == pytest.approx(1.0, abs=1e-3)


def test_curves_span_the_unit_square() -> None:
    curves = image_curves(_scores([0.1, 0.4, 0.3, 0.9], [False, True, False, True], threshold=0.5))
    roc = curves["roc"]
    assert roc.x[0] == 0.0 and roc.x[-1] == 1.0 and roc.y[-1] == 1.0
    assert len(curves["pr"].x) == len(curves["pr"].y) == len(curves["pr"].thresholds)


def _set(
    maps: list[list[list[float]]], truth: list[list[list[bool]]], samples: list[Sample], threshold: float
) -> ScoredTestSet:
    """A test set of 2×2 raw maps whose image score is the map's peak; masks at ``threshold``."""
    raw_maps = np.array(maps, np.float32)
    raw_scores = raw_maps.max(axis=(1, 2))
    scored = ScoredBatch(
        raw_scores=raw_scores,
        raw_maps=raw_maps,
        scores=raw_scores,
        maps=raw_maps,
        labels=raw_scores > threshold,
        masks=raw_maps > threshold,
    )
    return ScoredTestSet(samples=tuple(samples), scored=scored, gt_masks=np.array(truth, bool))


NORMAL_A = [[0.1, 0.2], [0.3, 0.4]]
NORMAL_B = [[0.2, 0.1], [0.1, 0.1]]
MASKED = [[0.9, 0.2], [0.1, 0.5]]
UNMASKED = [[0.95, 0.95], [0.95, 0.95]]
EMPTY = [[False, False], [False, False]]
TOP_LEFT = [[True, False], [False, False]]


def _partly_masked() -> ScoredTestSet:
    """Two normals, a defect with a mask (its top-left pixel) and a defect without one (map high everywhere)."""
    samples = [
        _normal(0),
        _normal(1),
        Sample(Path("2.png"), "test", "solder_bridge", Path("2_mask.png")),
        Sample(Path("3.png"), "test", "missing_pin", None),
    ]
    return _set([NORMAL_A, NORMAL_B, MASKED, UNMASKED], [EMPTY, EMPTY, TOP_LEFT, EMPTY], samples, threshold=0.45)


def test_pixel_metrics_count_only_images_whose_pixel_truth_is_known() -> None:
    scores = _partly_masked()
    assert scores.pixel_truth_known.tolist() == [True, True, True, False]
    metrics = compute_metrics(scores)
    # Known pixels: one defect pixel (0.9) above all eleven others (at most 0.5). Counting the unmasked image's four
    # 0.95 pixels as normal would give AUROC 11/15 and, at threshold 0.45, F1 2/7 instead of 2/3 (TP 1, FP 1).
    assert metrics.pixel_auroc == pytest.approx(1.0)
    assert metrics.pixel_f1 == pytest.approx(2 / 3)
    assert metrics.pixel_f1max == pytest.approx(1.0)
    assert metrics.pixel_aupro == pytest.approx(1.0, abs=1e-3)
    assert metrics.image_auroc == pytest.approx(1.0)  # peaks 0.4, 0.2 below 0.9, 0.95: every image counts
    assert metrics.unavailable == {}


def test_without_any_mask_pixel_metrics_are_nan_with_the_reason() -> None:
    samples = [_normal(0), _normal(1), Sample(Path("2.png"), "test", "solder_bridge", None)]
    metrics = compute_metrics(_set([NORMAL_A, NORMAL_B, UNMASKED], [EMPTY] * 3, samples, threshold=0.45))
    assert all(np.isnan(getattr(metrics, key)) for key in PIXEL_METRICS)
    assert metrics.unavailable == dict.fromkeys(PIXEL_METRICS, NO_MASKS)
    assert metrics.image_auroc == pytest.approx(1.0)
    assert metrics.image_f1 == pytest.approx(1.0)  # only the defect's peak 0.95 passes 0.45


def test_good_only_test_split_gives_nan_metrics_no_curves_and_no_warning() -> None:
    scores = _set([NORMAL_A, NORMAL_B], [EMPTY, EMPTY], [_normal(0), _normal(1)], threshold=0.45)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's single-class warnings would fail here
        metrics = compute_metrics(scores)
        curves = image_curves(scores)
    assert curves == {}
    assert set(metrics.unavailable) == set(IMAGE_METRICS + PIXEL_METRICS)
    assert set(metrics.unavailable.values()) == {NO_DEFECTS}
    values = metrics.as_dict()
    assert set(values) == set(IMAGE_METRICS + PIXEL_METRICS) and all(np.isnan(v) for v in values.values())


def test_no_normal_test_image_leaves_only_image_auroc_undefined() -> None:
    samples = [Sample(Path("0.png"), "test", "solder_bridge", Path("0_mask.png"))]
    metrics = compute_metrics(_set([MASKED], [TOP_LEFT], samples, threshold=0.45))
    assert np.isnan(metrics.image_auroc) and metrics.unavailable == {"image_auroc": NO_NORMALS}
    assert metrics.image_f1 == pytest.approx(1.0)
    assert metrics.pixel_auroc == pytest.approx(1.0)


class _MeanModel:
    """A stand-in anomalib module: resizes to 8×8, scores each image by its mean and maps each pixel to its mean."""

    def __init__(self) -> None:
        self.pre_processor = SimpleNamespace(transform=Resize((8, 8), antialias=True))
        self.model = lambda x: InferenceBatch(pred_score=x.mean(dim=(1, 2, 3)), anomaly_map=x.mean(dim=1))
        self.post_processor = lambda raw: InferenceBatch(
            pred_score=raw.pred_score,
            pred_label=raw.pred_score > 0.5,
            anomaly_map=raw.anomaly_map,
            pred_mask=raw.anomaly_map > 0.5,
        )

    def eval(self) -> _MeanModel:
        return self

    def to(self, device: str) -> _MeanModel:
        return self


def test_images_of_mixed_sizes_are_scored_each_at_the_models_resolution(tmp_path: Path) -> None:
    """Three flat images of different sizes and orientations in one batch; the masked one's mask (left half) comes out
    at 8×8 with exactly its left half set."""
    sizes, values = [(40, 24), (16, 30), (20, 20)], [51, 102, 204]
    paths = [tmp_path / f"{index}.png" for index in range(3)]
    for path, (width, height), value in zip(paths, sizes, values, strict=True):
        Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(path)
    mask = np.zeros((24, 40), np.uint8)
    mask[:, :20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    samples = [
        Sample(paths[0], "test", "crack", tmp_path / "mask.png"),
        *(Sample(path, "test", "good", None) for path in paths[1:]),
    ]
    scores = score_samples(_MeanModel(), samples, batch_size=8)
    assert scores.scored.raw_scores == pytest.approx([v / 255 for v in values], abs=1e-6)
    assert scores.scored.raw_maps.shape == scores.gt_masks.shape == (3, 8, 8)
    assert scores.gt_masks[0, :, :4].all() and not scores.gt_masks[0, :, 4:].any()
    assert not scores.gt_masks[1:].any()
