"""Check images for reduced precision: normal training images and pseudo-anomalous copies, never a test image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from services import precision_check
from services.inference import REDUCED_PRECISION_TOLERANCE, Detector
from services.model_factory import load_model
from services.openvino_backend import cpu_computes_bf16
from services.precision_check import MAX_TRAINING_IMAGES, PrecisionCheckError, check_inputs
from services.registry import CHECKPOINT, METRICS, Run, load_run
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture()
def images_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every image file the check decodes."""
    paths: list[Path] = []
    original = precision_check.load_image

    def spy(path: Path, **kwargs: object) -> object:
        paths.append(Path(path))
        return original(path, **kwargs)

    monkeypatch.setattr(precision_check, "load_image", spy)
    return paths


def test_check_images_are_training_images_and_their_pseudo_anomalous_copies(
    tiny_registry: TinyRegistry, images_read: list[Path]
) -> None:
    run = tiny_registry.runs["efficientad"]
    model = load_model(run.record.model, run.checkpoint)
    inputs = check_inputs(model, run, max_pixels=10**7)
    assert images_read and all(path.parts[-3:-1] == ("train", "good") for path in images_read)
    assert len(images_read) == min(MAX_TRAINING_IMAGES, len(list(images_read[0].parent.iterdir())))
    assert inputs.shape[0] == 2 * len(images_read) and inputs.shape[1] == 3
    normals, copies = inputs[0::2], inputs[1::2]
    assert all(not torch.equal(normal, copy) for normal, copy in zip(normals, copies, strict=True))
    assert torch.equal(inputs, check_inputs(model, run, max_pixels=10**7)), "the check is reproducible"


def _without_dataset(tiny_registry: TinyRegistry, tmp_path: Path) -> Run:
    source = tiny_registry.runs["efficientad"].path
    for name in (CHECKPOINT, METRICS):
        shutil.copy(source / name, tmp_path / name)
    metrics = json.loads((tmp_path / METRICS).read_text())
    metrics["dataset_root"] = str(tmp_path / "moved-away")
    (tmp_path / METRICS).write_text(json.dumps(metrics))
    return load_run(tmp_path)


def test_missing_training_images_are_named(tiny_registry: TinyRegistry, tmp_path: Path) -> None:
    run = _without_dataset(tiny_registry, tmp_path)
    with pytest.raises(PrecisionCheckError, match=r"no training images to check on: .*moved-away"):
        check_inputs(load_model(run.record.model, run.checkpoint), run, max_pixels=10**7)


def test_unchecked_reduced_precision_is_not_used(tiny_registry: TinyRegistry, tmp_path: Path) -> None:
    detector = Detector(_without_dataset(tiny_registry, tmp_path), tiny_registry.settings, backend="openvino")
    assert detector.precision == "f32"
    expected = "bf16 refused: not checked: no training images" if cpu_computes_bf16() else "no native bf16"
    assert expected in detector.backend_note


@pytest.mark.skipif(not cpu_computes_bf16(), reason="this CPU has no native bf16")
def test_bf16_choice_states_the_measured_drift(tiny_registry: TinyRegistry) -> None:
    detector = Detector(tiny_registry.runs["efficientad"], tiny_registry.settings, backend="openvino")
    note = detector.backend_note
    assert "score drift" in note and "training and pseudo-anomalous images" in note
    drift = float(note.split("score drift ")[1].split()[0])
    assert (detector.precision == "bf16") == (drift <= REDUCED_PRECISION_TOLERANCE)
