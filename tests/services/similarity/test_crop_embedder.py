"""Region vectors describe the region's core: the pixels near its peak, not the normal surface around it."""

from __future__ import annotations

import numpy as np

from services.postprocessing.regions import extract_regions
from services.similarity.crop_embedder import CORE_FRACTION, region_core


def _map_with_a_plateau_and_a_peak() -> np.ndarray:
    anomaly_map = np.full((64, 64), 0.1, np.float32)
    anomaly_map[10:40, 10:50] = 0.6  # a wide region over the threshold
    anomaly_map[20:24, 30:36] = 0.95  # its peak
    anomaly_map[32:36, 12:16] = 0.9  # as high, but not connected to the peak
    return anomaly_map


def test_core_keeps_the_pixels_near_the_peak_that_connect_to_it() -> None:
    anomaly_map = _map_with_a_plateau_and_a_peak()
    (region,) = extract_regions(anomaly_map, anomaly_map > 0.5)
    core = region_core(anomaly_map, region)
    assert region.bbox == (10, 10, 40, 30)
    assert core.bbox == (30, 20, 6, 4)
    assert core.max_score == region.max_score
    assert CORE_FRACTION * region.max_score <= 0.9, "the other blob is left out for not touching the peak"


def test_a_flat_region_is_its_own_core() -> None:
    anomaly_map = np.zeros((32, 32), np.float32)
    anomaly_map[4:12, 4:20] = 0.7
    (region,) = extract_regions(anomaly_map, anomaly_map > 0.5)
    assert region_core(anomaly_map, region).bbox == region.bbox
