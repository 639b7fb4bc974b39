"""Pseudo-anomalies change only a masked region, vary in size, and are reproducible per seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.data.natural_images import natural_photos
from services.data.pseudo_anomalies import (
    PseudoAnomalyError,
    anomaly_mask,
    numbered_anomaly,
    perlin_noise,
    synthesize_anomaly,
)


@pytest.fixture(scope="module")
def sources() -> list[np.ndarray]:
    return [photo.rgb for photo in natural_photos()]


@pytest.fixture(scope="module")
def texture(tiny_synthetic_root: Path) -> np.ndarray:
    path = sorted((tiny_synthetic_root / "grid" / "train" / "good").glob("*.png"))[0]
    return np.asarray(Image.open(path).convert("RGB").resize((128, 128)))


def test_changes_only_inside_a_non_empty_mask(texture: np.ndarray, sources: list[np.ndarray]) -> None:
    for seed in range(12):
        result, mask = synthesize_anomaly(texture, np.random.default_rng(seed), sources)
        assert result.shape == texture.shape and result.dtype == np.uint8
        assert mask.shape == texture.shape[:2] and mask.dtype == bool
        assert mask.any()
        assert np.array_equal(result[~mask], texture[~mask])
        assert np.abs(result[mask].astype(int) - texture[mask]).mean() > 5


def test_deterministic_per_seed(texture: np.ndarray, sources: list[np.ndarray]) -> None:
    first = synthesize_anomaly(texture, np.random.default_rng(7), sources)
    again = synthesize_anomaly(texture, np.random.default_rng(7), sources)
    other = synthesize_anomaly(texture, np.random.default_rng(8), sources)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_mask_sizes_vary(texture: np.ndarray, sources: list[np.ndarray]) -> None:
    areas = [synthesize_anomaly(texture, np.random.default_rng(seed), sources)[1].mean() for seed in range(20)]
    assert max(areas) / min(areas) > 5
    assert max(areas) < 0.5


def test_works_without_photo_sources(texture: np.ndarray) -> None:
    result, mask = synthesize_anomaly(texture, np.random.default_rng(0), [])
    assert mask.any() and not np.array_equal(result, texture)


def test_masks_are_localised_blobs_not_scattered_noise() -> None:
    mask = anomaly_mask(128, 128, np.random.default_rng(1))
    rows, cols = np.nonzero(mask)
    spread = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert spread < 128 * 128  # bounded by a window, not spread over the whole image


def test_perlin_noise_is_bounded_and_smooth() -> None:
    noise = perlin_noise(64, 64, (4, 4), np.random.default_rng(0))
    assert noise.shape == (64, 64)
    assert np.abs(noise).max() <= 1.5
    assert np.abs(np.diff(noise, axis=1)).mean() < 0.2 * noise.std() + 0.1


@pytest.mark.parametrize(
    ("image", "sources", "message"),
    [
        (np.zeros((32, 32), np.uint8), [], "image must be an H×W×3 uint8"),
        (np.zeros((32, 32, 3), np.float32), [], "image must be an H×W×3 uint8"),
        (np.zeros((8, 8, 3), np.uint8), [], "at least 16×16"),
        (np.zeros((32, 32, 3), np.uint8), [np.zeros((32, 32, 4), np.uint8)], "source 0"),
    ],
)
def test_bad_input_raises_one_typed_error(image: np.ndarray, sources: list[np.ndarray], message: str) -> None:
    with pytest.raises(PseudoAnomalyError, match=message):
        synthesize_anomaly(image, np.random.default_rng(0), sources)


def test_numbered_series_is_seeded_by_seed_and_index(texture: np.ndarray, sources: list[np.ndarray]) -> None:
    image, mask = numbered_anomaly(texture, 3, 1)
    expected_image, expected_mask = synthesize_anomaly(texture, np.random.default_rng([3, 1]), sources)
    assert np.array_equal(image, expected_image) and np.array_equal(mask, expected_mask)
    assert not np.array_equal(numbered_anomaly(texture, 3, 2)[0], image)
    assert not np.array_equal(numbered_anomaly(texture, 4, 1)[0], image)
