"""The Detector: same numbers as anomalib's own predict path on either backend (torch, OpenVINO), regions at input
resolution, typed bad-input errors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.data.datasets import list_samples
from services.data.images import ImageInputError
from services.inference.detector import Detector, Prediction
from services.inference.openvino_backend import cpu_computes_bf16
from services.postprocessing.regions import CALIBRATED_THRESHOLD, extract_regions
from services.registry.runs import CHECKPOINT, EXPORT_CACHE, METRICS, file_sha256, load_run, manifest_status
from services.training.product_gate import PRODUCT_GATE
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["patchcore", "efficientad"])
def model_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def detector(model_name: str, tiny_registry: TinyRegistry) -> Detector:
    return Detector(tiny_registry.runs[model_name], tiny_registry.settings, device="cpu", backend="torch")


@pytest.fixture(scope="module")
def openvino_detector(model_name: str, tiny_registry: TinyRegistry) -> Detector:
    return Detector(tiny_registry.runs[model_name], tiny_registry.settings, device="cpu", backend="openvino")


@pytest.fixture(scope="module")
def test_images(tiny_registry: TinyRegistry) -> list[Path]:
    samples = list_samples(tiny_registry.dataset_root, "tile", "test")
    return [s.path for s in samples if s.defect_type in ("good", "crack", "oil")]


@pytest.fixture(scope="module")
def engine_predictions(
    detector: Detector, test_images: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[float, np.ndarray]]:
    """Score and map of each test image from anomalib's ``Engine.predict`` on the same checkpoint."""
    from anomalib.engine import Engine

    from services.modeling.factory import load_model

    model = load_model(detector.run.record.model, detector.run.checkpoint)
    root = tmp_path_factory.mktemp("engine")
    engine = Engine(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, default_root_dir=root)
    predictions = []
    for path in test_images:
        batch = engine.predict(model=model, data_path=path, return_predictions=True)[0]
        reference_map = batch.anomaly_map.reshape(batch.anomaly_map.shape[-2:]).numpy()
        predictions.append((float(batch.pred_score.reshape(-1)[0]), reference_map))
    return predictions


def _assert_matches_engine(
    detector: Detector, test_images: list[Path], engine_predictions: list[tuple[float, np.ndarray]], tolerance: float
) -> None:
    ours = detector.predict_batch(list(test_images))
    for prediction, (score, reference_map) in zip(ours, engine_predictions, strict=True):
        assert abs(score - prediction.score) <= tolerance
        resized = np.asarray(
            Image.fromarray(reference_map).resize(prediction.anomaly_map.shape[::-1], Image.Resampling.BILINEAR)
        )
        assert np.abs(np.clip(resized, 0, 1) - prediction.anomaly_map).mean() <= 1e-2


def test_matches_anomalib_engine_predict(
    detector: Detector, test_images: list[Path], engine_predictions: list[tuple[float, np.ndarray]]
) -> None:
    assert (detector.choice.backend, detector.choice.precision, detector.choice.requested) == ("torch", "f32", "torch")
    _assert_matches_engine(detector, test_images, engine_predictions, tolerance=1e-4)


def test_openvino_backend_matches_torch_and_engine_predict(
    detector: Detector,
    openvino_detector: Detector,
    test_images: list[Path],
    engine_predictions: list[tuple[float, np.ndarray]],
) -> None:
    choice = openvino_detector.choice
    assert choice.backend == "openvino" and not choice.fallback, choice.summary()
    assert choice.ir is not None and choice.ir.xml.is_file()
    if cpu_computes_bf16():
        assert choice.precision_check is not None and choice.precision_check.precision == "bf16"
        assert choice.precision in (("f32", "bf16") if choice.precision_check.accepted else ("f32",))
    else:
        assert choice.precision == "f32" and choice.reduced_unavailable == "this CPU has no native bf16"
    _assert_matches_engine(openvino_detector, test_images, engine_predictions, tolerance=1e-2)
    buffer = io.BytesIO()
    Image.open(test_images[-1]).convert("RGB").resize((150, 97)).save(buffer, format="PNG")
    sources: list[bytes | Path] = [test_images[0], buffer.getvalue()]
    for torch_prediction, openvino_prediction in zip(
        detector.predict_batch(sources), openvino_detector.predict_batch(sources), strict=True
    ):
        assert abs(torch_prediction.score - openvino_prediction.score) <= 1e-2
        assert openvino_prediction.anomaly_map.shape == torch_prediction.anomaly_map.shape
        assert openvino_prediction.anomaly_map.dtype == torch_prediction.anomaly_map.dtype
        assert np.abs(openvino_prediction.anomaly_map - torch_prediction.anomaly_map).max() <= 1e-2
        assert len(openvino_prediction.regions) == len(torch_prediction.regions)


def test_openvino_export_is_cached_outside_the_manifest(
    openvino_detector: Detector, tiny_registry: TinyRegistry
) -> None:
    run = openvino_detector.run
    exports = [path.parent for path in (run.path / EXPORT_CACHE).glob("*/model.xml")]
    assert len(exports) == 1 and (exports[0] / "model.bin").is_file()
    record = json.loads((exports[0] / "export.json").read_text())
    assert record["checkpoint_sha256"] == file_sha256(run.checkpoint)
    assert manifest_status(run.path) == "ok"
    again = Detector(run, tiny_registry.settings, device="cpu", backend="openvino")
    assert again.choice.backend == "openvino" and again.choice.ir is not None
    assert not again.choice.ir.exported and again.choice.ir.xml == exports[0] / "model.xml"


def test_auto_on_cpu_picks_the_fastest_timed_backend(tiny_registry: TinyRegistry, test_images: list[Path]) -> None:
    detector = Detector(tiny_registry.runs["patchcore"], tiny_registry.settings, device="cpu")
    choice = detector.choice
    assert choice.requested == "auto" and choice.device == "cpu"
    assert {("openvino", "f32"), ("torch", "f32")} <= choice.timings_ms.keys()
    assert all(ms > 0 for ms in choice.timings_ms.values())
    assert min(choice.timings_ms, key=choice.timings_ms.__getitem__) == (choice.backend, choice.precision)
    reference = Detector(tiny_registry.runs["patchcore"], tiny_registry.settings, device="cpu", backend="torch")
    score = detector.predict(test_images[-1]).score
    assert score == pytest.approx(reference.predict(test_images[-1]).score, abs=1e-2)


def test_failed_export_falls_back_to_torch_with_the_reason(
    tiny_registry: TinyRegistry, test_images: list[Path], tmp_path: Path
) -> None:
    source = tiny_registry.runs["patchcore"].path
    for name in (CHECKPOINT, METRICS):
        shutil.copy(source / name, tmp_path / name)
    (tmp_path / EXPORT_CACHE).write_text("a file where the export folder should be")
    fallback = Detector(load_run(tmp_path), tiny_registry.settings, device="cpu", backend="openvino")
    choice = fallback.choice
    assert (choice.backend, choice.precision, choice.requested) == ("torch", "f32", "openvino")
    assert choice.fallback.startswith("FileExistsError: ") and str(tmp_path / EXPORT_CACHE) in choice.fallback
    assert choice.ir is None and choice.timings_ms == {}
    reference = Detector(tiny_registry.runs["patchcore"], tiny_registry.settings, device="cpu", backend="torch")
    assert fallback.predict(test_images[-1]).score == reference.predict(test_images[-1]).score


def test_backend_choice_is_validated(tiny_registry: TinyRegistry) -> None:
    run = tiny_registry.runs["patchcore"]
    with pytest.raises(ValueError, match="auto, torch, openvino"):
        Detector(run, tiny_registry.settings, device="cpu", backend="onnx")
    with pytest.raises(ValueError, match="cpu only"):
        Detector(run, tiny_registry.settings, device="cuda", backend="openvino")


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
    assert set(prediction.timings_ms) == {"decode", "model", "gate", "regions", "total"}


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


def test_image_and_pixel_thresholds_judge_the_score_and_the_map_apart() -> None:
    anomaly_map = np.zeros((32, 32), np.float32)
    anomaly_map[4:12, 4:12] = 0.7
    anomaly_map[20:28, 20:28] = 0.9
    regions = tuple(extract_regions(anomaly_map, anomaly_map > 0.5))
    prediction = Prediction("part.png", "patchcore", "run", 0.6, 0.5, anomaly_map, regions)
    strict_map = prediction.at_threshold(0.55, pixel_threshold=0.8)
    assert strict_map.is_anomalous, "score 0.6 > image threshold 0.55"
    assert (strict_map.threshold, strict_map.map_threshold) == (0.55, 0.8)
    assert strict_map.mask.sum() == 64 and len(strict_map.regions) == 1, "only the 0.9 square is above 0.8"
    strict_score = prediction.at_threshold(0.65, pixel_threshold=0.6)
    assert not strict_score.is_anomalous and len(strict_score.regions) == 2
    same = prediction.at_threshold(0.8)
    assert same.map_threshold == 0.8 and same.mask.sum() == 64, "the pixel threshold defaults to the image one"
    with pytest.raises(ValueError, match=r"within \[0, 1\], got 1.5"):
        prediction.at_threshold(0.5, pixel_threshold=1.5)


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


def test_an_image_of_another_product_carries_the_gate_result(
    detector: Detector, tiny_registry: TinyRegistry, test_images: list[Path], tmp_path: Path
) -> None:
    assert (detector.run.path / PRODUCT_GATE).is_file() and manifest_status(detector.run.path) == "ok"
    grid = next(s.path for s in list_samples(tiny_registry.dataset_root, "grid", "test") if s.defect_type == "good")
    checkerboard = np.kron((np.indices((8, 8)).sum(0) % 2) * 255, np.ones((8, 8))).astype(np.uint8)
    Image.fromarray(np.dstack([checkerboard] * 3)).save(tmp_path / "checkerboard.png")
    own, *foreign = detector.predict_batch([test_images[0], grid, tmp_path / "checkerboard.png"])
    assert own.foreign is not None and not own.is_foreign
    for prediction in foreign:
        assert prediction.foreign is not None and prediction.is_foreign and prediction.foreign.product == "tile"
        assert prediction.foreign.distance > prediction.foreign.threshold
        assert prediction.at_threshold(0.9).foreign == prediction.foreign


def test_a_run_without_a_gate_predicts_as_before(
    tiny_registry: TinyRegistry, test_images: list[Path], tmp_path: Path
) -> None:
    source = tiny_registry.runs["patchcore"].path
    for name in (CHECKPOINT, METRICS):
        shutil.copy(source / name, tmp_path / name)
    ungated = Detector(load_run(tmp_path), tiny_registry.settings, device="cpu", backend="torch")
    gated = Detector(tiny_registry.runs["patchcore"], tiny_registry.settings, device="cpu", backend="torch")
    assert ungated.gate is None and gated.gate is not None
    prediction = ungated.predict(test_images[-1])
    assert prediction.foreign is None and not prediction.is_foreign
    assert prediction.score == gated.predict(test_images[-1]).score
