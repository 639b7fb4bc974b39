"""Check images for reduced precision: normal training images and pseudo-anomalous copies, never a test image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from services.inference import precision_check
from services.inference.detector import Detector
from services.inference.openvino_backend import cpu_computes_bf16
from services.inference.precision_check import (
    BF16_TOLERANCE,
    MAX_TRAINING_IMAGES,
    VERDICT_FILE,
    PrecisionCheckError,
    PrecisionVerdict,
    check_inputs,
    check_precision,
    compare,
)
from services.modeling.factory import load_model
from services.modeling.scoring import ScoredBatch, score_inputs
from services.registry.runs import CHECKPOINT, METRICS, Run, load_run
from tests.conftest import TinyRegistry


def _scored(scores: list[float]) -> ScoredBatch:
    n = len(scores)
    values = np.array(scores, dtype=np.float32)
    maps = np.broadcast_to(values[:, None, None], (n, 4, 4)).copy()
    return ScoredBatch(values, maps, values, maps, values > 0.5, maps > 0.5)


def test_verdict_needs_every_score_within_the_tolerance_and_every_verdict_kept() -> None:
    inputs = torch.zeros(3, 3, 4, 4)
    reference = _scored([0.1, 0.498, 0.9])
    kept = compare(inputs, lambda _: reference, lambda _: _scored([0.1, 0.501, 0.9]), "bf16", 5e-3)
    assert kept.score_drift == pytest.approx(3e-3, abs=1e-6) and kept.flipped == 1 and not kept.accepted
    assert "1 of them changed verdict" in kept.words()
    small = compare(inputs, lambda _: reference, lambda _: _scored([0.1, 0.4985, 0.904]), "bf16", 5e-3)
    assert small.accepted and small.images == 3 and "score drift 4.0e-03 ≤ 0.005" in small.words()
    large = compare(inputs, lambda _: reference, lambda _: _scored([0.2, 0.498, 0.9]), "bf16", 5e-3)
    assert large.flipped == 0 and not large.accepted and "> 0.005" in large.words()
    assert not PrecisionVerdict("fp16", 1e-3, not_checked="no images").accepted


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_missing_training_images_are_named(tiny_registry: TinyRegistry, tmp_path: Path) -> None:
    run = _without_dataset(tiny_registry, tmp_path)
    with pytest.raises(PrecisionCheckError, match=r"no training images to check on: .*moved-away"):
        check_inputs(load_model(run.record.model, run.checkpoint), run, max_pixels=10**7)


@pytest.mark.slow
def test_unchecked_reduced_precision_is_not_used(tiny_registry: TinyRegistry, tmp_path: Path) -> None:
    detector = Detector(_without_dataset(tiny_registry, tmp_path), tiny_registry.settings, backend="openvino")
    assert detector.choice.precision == "f32"
    check = detector.choice.precision_check
    if cpu_computes_bf16():
        assert check is not None and not check.accepted and check.images == 0
        assert check.not_checked.startswith("no training images to check on: ") and "moved-away" in check.not_checked
    else:
        assert check is None and detector.choice.reduced_unavailable == "this CPU has no native bf16"


@pytest.mark.slow
@pytest.mark.skipif(not cpu_computes_bf16(), reason="this CPU has no native bf16")
def test_bf16_choice_states_the_measured_drift(tiny_registry: TinyRegistry) -> None:
    choice = Detector(tiny_registry.runs["efficientad"], tiny_registry.settings, backend="openvino").choice
    check = choice.precision_check
    assert check is not None and check.precision == "bf16" and check.tolerance == BF16_TOLERANCE
    training_images = len(list((tiny_registry.dataset_root / "tile" / "train" / "good").iterdir()))
    assert check.images == 2 * min(MAX_TRAINING_IMAGES, training_images) and not check.not_checked
    assert 0.0 <= check.score_drift <= 1.0 and 0.0 <= check.map_drift <= 1.0
    if choice.precision == "bf16":
        assert check.score_drift <= BF16_TOLERANCE and check.flipped == 0
        assert choice.timings_ms["openvino", "bf16"] <= choice.timings_ms["openvino", "f32"]
    elif check.accepted:
        assert choice.timings_ms["openvino", "bf16"] > choice.timings_ms["openvino", "f32"], "bf16 is slower here"
    else:
        assert ("openvino", "bf16") not in choice.timings_ms


@pytest.mark.slow
def test_verdict_is_cached_per_check_images_tolerance_and_cpu(
    tiny_registry: TinyRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tiny_registry.runs["efficientad"]
    model = load_model(run.record.model, run.checkpoint)
    calls: list[int] = []

    def scorer(inputs: torch.Tensor) -> ScoredBatch:
        calls.append(len(inputs))
        return score_inputs(model, inputs)

    def check(tolerance: float = BF16_TOLERANCE) -> PrecisionVerdict:
        scorers = (scorer, scorer)
        return check_precision(model, run, 10**7, scorers, precision="bf16", tolerance=tolerance, cache=tmp_path)

    first = check()
    assert len(calls) == 2 and first.accepted and first.score_drift == 0.0
    assert check() == first and len(calls) == 2, "the second check is read from the cache"
    assert (tmp_path / VERDICT_FILE).is_file()
    check(tolerance=1e-4)
    assert len(calls) == 4, "another tolerance is checked afresh"
    monkeypatch.setattr(precision_check, "_cpu_identity", lambda: "another cpu")
    check()
    assert len(calls) == 6, "another CPU is checked afresh"
    (tmp_path / VERDICT_FILE).write_text("{ damaged")
    assert check() == first and len(calls) == 8, "a damaged cache is checked again"
    unwritable = check_precision(
        model, run, 10**7, (scorer, scorer), precision="bf16", tolerance=BF16_TOLERANCE, cache=tmp_path / "absent"
    )
    assert unwritable == first and len(calls) == 10, "a folder that cannot be written still gets a verdict"
