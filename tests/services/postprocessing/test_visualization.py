"""Heatmap rendering: fixed colour scale, resizing, contours and the four-tile panel."""

import numpy as np
import pytest

from services.postprocessing.visualization import colorize, draw_contours, overlay, panel, resize_map


def test_fixed_scale_maps_low_to_blue_and_high_to_red() -> None:
    colours = colorize(np.array([[0.0, 1.0]], np.float32))
    (low, high) = colours[0]
    assert low[2] > low[0] and high[0] > high[2]


def test_overlay_resizes_the_map_to_the_image() -> None:
    rgb = np.zeros((30, 50, 3), np.uint8)
    result = overlay(rgb, np.ones((8, 8), np.float32), opacity=1.0)
    assert result.shape == (30, 50, 3) and result[..., 0].mean() > 100
    assert np.array_equal(overlay(rgb, np.ones((8, 8), np.float32), opacity=0.0), rgb)
    with pytest.raises(ValueError, match="opacity"):
        overlay(rgb, np.ones((8, 8), np.float32), opacity=2.0)
    assert resize_map(np.zeros((4, 4), np.float32), 9, 7).shape == (9, 7)


def test_contours_and_panel() -> None:
    rgb = np.zeros((40, 40, 3), np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    outlined = draw_contours(rgb, mask)
    assert outlined[10, 15].any() and not outlined[30, 30].any() and not rgb.any()
    figure = panel(rgb, mask.astype(np.float32), mask, mask)
    assert figure.shape == (40, 4 * 40 + 3 * 4, 3)
