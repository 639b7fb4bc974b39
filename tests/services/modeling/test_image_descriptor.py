"""The global image descriptor: one unit vector per image of any size, the same whether batched or not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.modeling.image_descriptor import DESCRIPTOR_DIM, ImageDescriptor
from services.settings import Settings


@pytest.fixture(scope="module")
def descriptor(tmp_path_factory: pytest.TempPathFactory) -> ImageDescriptor:
    root = tmp_path_factory.mktemp("descriptor")
    return ImageDescriptor(Settings(data_root=root / "data", registry_dir=root / "models"), device="cpu")


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, (48, 80, 3), dtype=np.uint8),
        np.full((300, 200, 3), 90, np.uint8),
        np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 1, 3)),
    ]


def test_descriptors_are_unit_vectors_of_the_documented_size(descriptor: ImageDescriptor) -> None:
    vectors = descriptor.describe(_images())
    assert vectors.shape == (3, DESCRIPTOR_DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(vectors[0] - vectors[1]) > 0.1, "noise and a flat gray image are described apart"


def test_batching_does_not_change_a_descriptor(descriptor: ImageDescriptor) -> None:
    images = _images()
    assert np.allclose(descriptor.describe(images, batch_size=1), descriptor.describe(images), atol=1e-5)
    assert descriptor.describe([]).shape == (0, DESCRIPTOR_DIM)


def test_the_backbone_is_the_packaged_one_without_network(no_network: list[str], tmp_path: Path) -> None:
    ImageDescriptor(Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models")).describe(_images()[:1])
    assert no_network == []
