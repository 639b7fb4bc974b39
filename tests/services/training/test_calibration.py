"""Thresholds at the highest score of held-out normal images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.data.datasets import list_samples
from services.modeling.factory import load_model
from services.modeling.scoring import Thresholds
from services.training.calibration import CalibrationError, calibrate_on_normals, normal_ceiling
from services.training.evaluation import score_samples
from tests.conftest import TinyRegistry


@pytest.mark.parametrize("model_name", ["patchcore", "efficientad"])
def test_every_calibration_image_passes_and_the_highest_sits_on_the_threshold(
    tiny_registry: TinyRegistry, model_name: str
) -> None:
    run = tiny_registry.runs[model_name]
    model = load_model(model_name, run.checkpoint)
    before = Thresholds.of(model)
    normals = list_samples(tiny_registry.dataset_root, "tile", "train")[:4]
    ceiling = calibrate_on_normals(model, normals)
    after = Thresholds.of(model)
    assert (after.image, after.pixel) == pytest.approx((ceiling.image, ceiling.pixel))
    assert (after.image_min, after.image_max, after.pixel_min, after.pixel_max) == (
        before.image_min,
        before.image_max,
        before.pixel_min,
        before.pixel_max,
    ), "normalisation statistics stay anomalib's"
    scored = score_samples(model, normals).scored
    assert scored.scores.max() == pytest.approx(0.5, abs=1e-5)
    assert not scored.labels.any(), "no calibration image is called defective"
    assert np.max(scored.maps) == pytest.approx(0.5, abs=1e-5)


def test_refuses_no_images_and_anomalous_images(tiny_registry: TinyRegistry) -> None:
    run = tiny_registry.runs["patchcore"]
    model = load_model("patchcore", run.checkpoint)
    with pytest.raises(CalibrationError, match="only normal"):
        normal_ceiling(model, [])
    defective = [s for s in list_samples(tiny_registry.dataset_root, "tile", "test") if s.is_anomalous][:1]
    assert defective
    with pytest.raises(CalibrationError, match="only normal"):
        normal_ceiling(model, defective)


def test_ceiling_is_recorded_with_its_rule(tiny_registry: TinyRegistry, tmp_path: Path) -> None:
    model = load_model("patchcore", tiny_registry.runs["patchcore"].checkpoint)
    ceiling = normal_ceiling(model, list_samples(tiny_registry.dataset_root, "tile", "train")[:2])
    assert ceiling.as_dict()["n_images"] == 2
    assert "held-out normal" in ceiling.as_dict()["rule"]
