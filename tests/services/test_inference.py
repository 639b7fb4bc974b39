"""The Detector: same numbers as anomalib's own predict path, regions at input resolution, typed bad-input errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.datasets import list_samples
from services.images import ImageInputError
from services.inference import CALIBRATED_THRESHOLD, Detector
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["patchcore", "efficientad"])
def detector(request: pytest.FixtureRequest, tiny_registry: TinyRegistry) -> Detector:
    return Detector(tiny_registry.runs[request.param], tiny_registry.settings, device="cpu")


@pytest.fixture(scope="module")
def test_images(tiny_registry: TinyRegistry) -> list[Path]:
    samples = list_samples(tiny_registry.dataset_root, "tile", "test")
    return [s.path for s in samples if s.defect_type in ("good", "crack", "oil")]


def test_matches_anomalib_engine_predict(detector: Detector, test_images: list[Path], tmp_path: Path) -> None:
    from anomalib.engine import Engine

    from services.model_factory import load_model

    model = load_model(detector.run.record.model, detector.run.checkpoint)
    engine = Engine(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    ours = detector.predict_batch(list(test_images))
    for path, prediction in zip(test_images, ours, strict=True):
        batch = engine.predict(model=model, data_path=path, return_predictions=True)[0]
        assert abs(float(batch.pred_score.reshape(-1)[0]) - prediction.score) <= 1e-4
        reference_map = batch.anomaly_map.reshape(batch.anomaly_map.shape[-2:]).numpy()
        resized = np.asarray(
            Image.fromarray(reference_map).resize(prediction.anomaly_map.shape[::-1], Image.Resampling.BILINEAR)
        )
        assert np.abs(np.clip(resized, 0, 1) - prediction.anomaly_map).mean() <= 1e-2


def test_prediction_is_at_input_resolution_with_regions(detector: Detector, test_images: list[Path]) -> None:
    rgb = np.asarray(Image.open(test_images[-1]).convert("RGB").resize((150, 97)))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    prediction = detector.predict(buffer.getvalue(), name="odd-size.png")
    assert prediction.anomaly_map.shape == (97, 150)
    assert prediction.mask.shape == (97, 150)
    assert 0.0 <= prediction.score <= 1.0
    assert prediction.threshold == CALIBRATED_THRESHOLD
    assert prediction.is_anomalous == (prediction.score > CALIBRATED_THRESHOLD)
    for region in prediction.regions:
        x, y, w, h = region.bbox
        assert x >= 0 and y >= 0 and x + w <= 150 and y + h <= 97
        assert region.max_score > CALIBRATED_THRESHOLD
    assert set(prediction.timings_ms) == {"decode", "model", "regions", "total"}


def test_threshold_changes_verdict_and_mask_without_rerunning(detector: Detector, test_images: list[Path]) -> None:
    prediction = detector.predict(test_images[-1])
    below = prediction.at_threshold(max(prediction.score - 0.01, 0.0))
    above = prediction.at_threshold(min(prediction.score + 0.01, 1.0))
    assert below.is_anomalous and not above.is_anomalous
    assert below.anomaly_map is prediction.anomaly_map
    assert below.mask.sum() >= above.mask.sum()
    lowest = prediction.at_threshold(0.0)
    assert lowest.mask.sum() == (prediction.anomaly_map > 0).sum()
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        prediction.at_threshold(1.5)


def test_grayscale_input_is_accepted(detector: Detector, test_images: list[Path]) -> None:
    buffer = io.BytesIO()
    Image.open(test_images[0]).convert("L").save(buffer, format="JPEG")
    prediction = detector.predict(buffer.getvalue(), name="gray.jpg")
    assert prediction.image_name == "gray.jpg"
    assert np.isfinite(prediction.score)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "empty"), (b"not an image at all", "not an image"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 10, "PNG")],
)
def test_bad_input_raises_one_typed_error(detector: Detector, payload: bytes, reason: str) -> None:
    with pytest.raises(ImageInputError, match=reason) as raised:
        detector.predict(payload, name="bad.png")
    assert "bad.png" in str(raised.value) and "accepted" in str(raised.value)
