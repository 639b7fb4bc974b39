"""The clickable defect figure: every click target carries the id of the region under it."""

from __future__ import annotations

import numpy as np
import pytest

from components.inspect.defect_figure import MAX_HIT_MARKERS, build_figure, hit_stride
from services.inference.detector import Prediction
from services.postprocessing.regions import extract_regions


def _prediction(anomaly_map: np.ndarray, threshold: float = 0.5) -> Prediction:
    regions = tuple(extract_regions(anomaly_map, anomaly_map > threshold))
    return Prediction("part.png", "patchcore", "run", float(anomaly_map.max()), threshold, anomaly_map, regions)


def _two_defects(height: int, width: int) -> np.ndarray:
    anomaly_map = np.full((height, width), 0.1, np.float32)
    anomaly_map[height // 8 : height // 3, width // 6 : width // 2] = 0.9
    yy, xx = np.mgrid[:height, :width]
    anomaly_map[(yy - 0.7 * height) ** 2 + (xx - 0.7 * width) ** 2 < (0.1 * min(height, width)) ** 2] = 0.7
    return anomaly_map


def test_every_hit_marker_lies_on_the_region_it_names() -> None:
    rgb = np.zeros((120, 200, 3), np.uint8)
    anomaly_map = _two_defects(120, 200)
    prediction = _prediction(anomaly_map)
    figure = build_figure(rgb, prediction, opacity=0.5)
    hits = next(trace for trace in figure.data if trace.name == "defect pixels")
    assert len(prediction.regions) == 2
    assert {int(region_id) for region_id in hits.customdata} == {1, 2}
    blob_value = {1: 0.9, 2: 0.7}  # region 1 is the 0.9 rectangle (highest peak), region 2 the 0.7 disc
    for x, y, region_id in zip(hits.x, hits.y, hits.customdata, strict=True):
        assert anomaly_map[int(y), int(x)] == pytest.approx(blob_value[region_id])


def test_numbered_markers_sit_at_centroids_and_the_image_spans_the_pixel_grid() -> None:
    rgb = np.zeros((1000, 600, 3), np.uint8)
    prediction = _prediction(_two_defects(1000, 600))
    figure = build_figure(rgb, prediction, opacity=0.3, selected=prediction.regions[0])
    numbers = next(trace for trace in figure.data if trace.name == "defect numbers")
    assert list(numbers.text) == ["1", "2"]
    assert list(numbers.x) == [region.centroid[0] for region in prediction.regions]
    image = figure.data[0]
    assert image.dx == image.dy == pytest.approx(1000 / 560), "the long side is drawn at 560 px, in image pixel units"
    assert abs(image.x0 - image.dx / 2 + 0.5) < 1e-9, "the first drawn pixel starts where image pixel 0 starts"
    assert any(trace.name == "selected defect" for trace in figure.data)


def test_no_region_no_click_target() -> None:
    rgb = np.zeros((64, 64, 3), np.uint8)
    figure = build_figure(rgb, _prediction(np.full((64, 64), 0.2, np.float32)), opacity=0.5)
    assert [trace.type for trace in figure.data] == ["image"]


def test_a_whole_image_region_carries_a_bounded_grid_of_markers() -> None:
    rgb = np.zeros((256, 256, 3), np.uint8)
    prediction = _prediction(np.full((256, 256), 0.9, np.float32))
    assert hit_stride(prediction.regions, 256, 256) == 9, "√(256² / 1000) = 8.1 → 9, above 256 / 80 → 4"
    figure = build_figure(rgb, prediction, opacity=0.5)
    hits = next(trace for trace in figure.data if trace.name == "defect pixels")
    assert len(hits.x) == 29 * 29, "rows and columns 0, 9, …, 252"
    assert len(hits.x) <= MAX_HIT_MARKERS
    assert figure.layout.hoverdistance == 20, "markers 9 × 560/256 ≈ 20 display px apart: the default reach suffices"


def test_small_regions_keep_the_fine_grid() -> None:
    prediction = _prediction(_two_defects(120, 200))
    assert hit_stride(prediction.regions, 120, 200) == 3, "200 / 80 → 3; the boxes hold far fewer than 1000 × 3²"
