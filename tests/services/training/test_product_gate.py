"""The product gate: fitted from normals only, it turns away another product and lets its own new parts through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.data.datasets import Sample, open_dataset
from services.data.protocol import build_protocol
from services.modeling.image_descriptor import ImageDescriptor
from services.settings import Settings
from services.training import product_gate
from services.training.product_gate import (
    ProductGate,
    ProductGateError,
    fit_product_gate,
    out_of_sample_distances,
    write_product_gate,
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("gate")
    return Settings(data_root=root / "data", registry_dir=root / "models")


@pytest.fixture(scope="module")
def descriptor(settings: Settings) -> ImageDescriptor:
    return ImageDescriptor(settings)


def _gradient(rng: np.random.Generator) -> np.ndarray:
    """A smooth colour gradient in a random direction."""
    yy, xx = np.mgrid[:96, :96] / 95.0
    angle = rng.uniform(0, np.pi / 2)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    low, high = rng.uniform(60, 110, 3), rng.uniform(150, 200, 3)
    return (low + (high - low) * ramp[..., None] / ramp.max()).astype(np.uint8)


def _checkerboard(rng: np.random.Generator) -> np.ndarray:
    """A black-and-colour checkerboard with random cell size."""
    cell = int(rng.integers(6, 14))
    yy, xx = np.mgrid[:96, :96]
    board = ((yy // cell + xx // cell) % 2).astype(np.float64)
    return (board[..., None] * rng.uniform(180, 255, 3)).astype(np.uint8)


def _samples(folder: Path, make: object, count: int, seed: int, defect: str = "good") -> list[Sample]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = []
    for index in range(count):
        path = folder / f"{index:03d}.png"
        Image.fromarray(make(rng)).save(path)  # type: ignore[operator]
        samples.append(Sample(path, "train", defect, None))
    return samples


def test_another_product_is_turned_away_and_new_own_parts_are_not(descriptor: ImageDescriptor, tmp_path: Path) -> None:
    train = _samples(tmp_path / "train", _gradient, 16, seed=1)
    validation = _samples(tmp_path / "validation", _gradient, 4, seed=2)
    gate = fit_product_gate("gradient", train, validation, descriptor)
    new_own = descriptor.describe([np.asarray(Image.open(s.path)) for s in _samples(tmp_path / "new", _gradient, 8, 3)])
    other = descriptor.describe([np.asarray(Image.open(s.path)) for s in _samples(tmp_path / "o", _checkerboard, 8, 4)])
    assert not any(check.is_foreign for check in gate.check(new_own))
    checks = gate.check(other)
    assert all(check.is_foreign and check.product == "gradient" for check in checks)
    assert gate.evidence.n_normals == 20 and gate.normals.shape[0] == 16


def test_the_fit_refuses_anything_but_normals(descriptor: ImageDescriptor, tmp_path: Path) -> None:
    train = _samples(tmp_path / "train", _gradient, 4, seed=1)
    defective = _samples(tmp_path / "crack", _gradient, 1, seed=2, defect="crack")
    with pytest.raises(ProductGateError, match="normal images only"):
        fit_product_gate("gradient", train, defective, descriptor)


def test_out_of_sample_distances_leave_each_training_normal_out() -> None:
    train = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    validation = np.array([[0.0, 2.0]])
    assert out_of_sample_distances(train, validation) == pytest.approx([1.0, 1.0, 2.0, 2.0])


def test_the_gate_survives_the_run_folder(descriptor: ImageDescriptor, tmp_path: Path) -> None:
    gate = fit_product_gate("gradient", _samples(tmp_path / "t", _gradient, 6, 1), [], descriptor)
    read = ProductGate.read(gate.write(tmp_path).parent)
    assert read is not None and read.product == "gradient" and read.threshold == pytest.approx(gate.threshold)
    assert np.array_equal(read.normals, gate.normals) and read.evidence == gate.evidence
    assert ProductGate.read(tmp_path / "elsewhere") is None


def test_training_fits_the_gate_from_train_and_validation_normals_and_reads_no_test_image(
    tiny_synthetic_root: Path, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    protocol = build_protocol(open_dataset(tiny_synthetic_root, ("tile",)), "tile", settings)
    read: list[Path] = []
    real_read = product_gate.read_rgb
    monkeypatch.setattr(product_gate, "read_rgb", lambda path: read.append(Path(path)) or real_read(path))
    written = ProductGate.read(write_product_gate(tmp_path, protocol, settings, "cpu").parent)
    normals = {sample.path for sample in (*protocol.train, *protocol.validation_normals)}
    assert set(read) == normals
    assert not set(read) & {sample.path for sample in protocol.test}
    assert written is not None and written.product == "tile" and written.evidence.n_normals == len(normals)
