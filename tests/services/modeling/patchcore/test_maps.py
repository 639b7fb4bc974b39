"""Tests for services.modeling.patchcore.maps: scaled sigma and the separable blur against anomalib's 2-D blur."""

from __future__ import annotations

import pytest
import torch
from anomalib.models.components import GaussianBlur2d
from anomalib.models.image.patchcore.anomaly_map import AnomalyMapGenerator

from services.modeling.patchcore.maps import (
    ANOMALIB_MAP_SIGMA,
    ScaledMapGenerator,
    SeparableGaussianBlur,
    map_sigma_for,
)


def test_map_sigma_scales_with_the_input_side() -> None:
    assert map_sigma_for(256) == ANOMALIB_MAP_SIGMA
    assert map_sigma_for(512) == 2 * ANOMALIB_MAP_SIGMA
    assert map_sigma_for(128) == ANOMALIB_MAP_SIGMA / 2


@pytest.mark.parametrize("sigma", [1.0, 4.0, 8.0])
@pytest.mark.parametrize("shape", [(1, 1, 64, 64), (2, 1, 96, 80)])
def test_separable_blur_matches_anomalib_2d_blur(sigma: float, shape: tuple[int, ...]) -> None:
    maps = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    maps[..., 10:20, 30:35] += 5.0  # a sharp peak near an edge: padding must match too
    expected = GaussianBlur2d(sigma=(sigma, sigma), channels=1)(maps)
    separable = SeparableGaussianBlur(sigma=sigma)
    assert torch.equal(separable.kernel, GaussianBlur2d(sigma=(sigma, sigma), channels=1).kernel)
    actual = separable(maps)
    assert actual.shape == expected.shape
    assert torch.max(torch.abs(actual - expected)).item() <= 1e-5 * float(expected.abs().max())


def test_scaled_generator_matches_anomalib_generator_and_state_dict() -> None:
    scores = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    stock, ours = AnomalyMapGenerator(sigma=4), ScaledMapGenerator(sigma=4.0)
    assert ours.state_dict().keys() == stock.state_dict().keys()
    ours.load_state_dict(stock.state_dict(), strict=True)
    assert torch.allclose(ours(scores, (128, 128)), stock(scores, (128, 128)), atol=1e-6)
