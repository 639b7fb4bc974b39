"""Metric computation on hand-made scores: validation-threshold F1 versus the oracle F1Max, AUROC, AUPRO, curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.data.datasets import Sample
from services.modeling.scoring import ScoredBatch
from services.training.evaluation import ScoredTestSet, compute_metrics, image_curves


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
        Sample(Path(f"{i}.png"), "test", "crack" if anomalous else "good", None) for i, anomalous in enumerate(labels)
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
