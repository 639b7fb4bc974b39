"""Region vectors in a PatchCore run's own feature space: residuals to the nearest memory-bank patch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from services.data.datasets import list_samples
from services.modeling.scoring import rgb_inputs
from services.postprocessing.regions import DefectRegion, extract_regions
from services.similarity.crop_embedder import Embedder
from services.similarity.residual_embedder import PatchcoreResidualEmbedder, region_embedder_for
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder(tiny_registry: TinyRegistry) -> Embedder:
    return Embedder(tiny_registry.settings)


@pytest.fixture(scope="module")
def residual(tiny_registry: TinyRegistry, embedder: Embedder) -> PatchcoreResidualEmbedder:
    return PatchcoreResidualEmbedder(tiny_registry.runs["patchcore"], embedder)


def _image(tiny_registry: TinyRegistry, defect_type: str) -> np.ndarray:
    sample = next(s for s in list_samples(tiny_registry.dataset_root, "tile", "test") if s.defect_type == defect_type)
    return np.asarray(Image.open(sample.path).convert("RGB"))


@pytest.fixture()
def scene(tiny_registry: TinyRegistry) -> tuple[np.ndarray, np.ndarray]:
    """A defective test image and a flat, low anomaly map of its size to draw regions on."""
    rgb = _image(tiny_registry, "crack")
    return rgb, np.full(rgb.shape[:2], 0.1, np.float32)


def _square_region(anomaly_map: np.ndarray, top: int, left: int, side: int) -> DefectRegion:
    mask = np.zeros(anomaly_map.shape, bool)
    mask[top : top + side, left : left + side] = True
    anomaly_map[mask] = 0.9
    return extract_regions(anomaly_map, mask, min_area_px=1)[0]


def test_patchcore_runs_get_residuals_and_other_models_the_crop_embedder(
    tiny_registry: TinyRegistry, embedder: Embedder
) -> None:
    assert isinstance(region_embedder_for(tiny_registry.runs["patchcore"], embedder), PatchcoreResidualEmbedder)
    assert region_embedder_for(tiny_registry.runs["efficientad"], embedder) is embedder


def test_residual_lengths_are_patchcores_patch_scores(
    residual: PatchcoreResidualEmbedder, tiny_registry: TinyRegistry
) -> None:
    rgb = _image(tiny_registry, "crack")
    residuals = residual.residuals(rgb)
    model = residual.module.model
    assert residuals.shape[2] == residual.dim == model.memory_bank.shape[1]
    inputs = rgb_inputs(residual.module, [rgb])
    with torch.inference_mode():
        features = {name: model.feature_pooler(f) for name, f in model.feature_extractor(inputs).items()}
        patches = model.reshape_embedding(model.generate_embedding(features))
        scores = model.euclidean_dist(patches, model.memory_bank).min(1).values.numpy()
    lengths = np.linalg.norm(residuals.reshape(-1, residual.dim), axis=1)
    assert lengths.max() > 0 and np.allclose(lengths, scores, rtol=1e-3, atol=1e-3)


def test_region_vectors_are_unit_length_reproducible_and_local(
    residual: PatchcoreResidualEmbedder, scene: tuple[np.ndarray, np.ndarray]
) -> None:
    rgb, anomaly_map = scene
    left_region = _square_region(anomaly_map, 4, 4, 16)
    right_region = _square_region(anomaly_map, 40, 40, 16)
    vectors = residual.region_vectors(rgb, anomaly_map, [left_region, right_region])
    assert vectors.shape == (2, residual.dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, residual.region_vectors(rgb, anomaly_map, [left_region, right_region]))
    assert float(vectors[0] @ vectors[1]) < 0.999, "regions in different places describe different patches"
    assert residual.region_vectors(rgb, anomaly_map, []).shape == (0, residual.dim)


def test_a_one_pixel_region_gets_the_vector_of_its_patch(
    residual: PatchcoreResidualEmbedder, scene: tuple[np.ndarray, np.ndarray]
) -> None:
    rgb, anomaly_map = scene
    pixel = _square_region(anomaly_map, 30, 30, 1)
    vector = residual.region_vectors(rgb, anomaly_map, [pixel])[0]
    residuals = residual.residuals(rgb)
    patch = residuals[30 * residuals.shape[0] // rgb.shape[0], 30 * residuals.shape[1] // rgb.shape[1]]
    assert np.allclose(vector, patch / np.linalg.norm(patch), atol=1e-5)


def test_image_vectors_are_the_crop_embedders(
    residual: PatchcoreResidualEmbedder, embedder: Embedder, tiny_registry: TinyRegistry
) -> None:
    rgb = _image(tiny_registry, "good")
    assert np.array_equal(residual.image_vector(rgb), embedder.image_vector(rgb))
