"""Defect regions from hand-made masks and maps."""

from __future__ import annotations

import numpy as np
import pytest

from services.postprocessing.regions import RegionInputError, extract_regions, region_mask


def blank(height: int = 20, width: int = 30) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((height, width), dtype=np.float32), np.zeros((height, width), dtype=bool)


def two_blobs() -> tuple[np.ndarray, np.ndarray]:
    """A weak 4×5 blob at the top left, a strong 3×3 blob at the bottom right."""
    scores, mask = blank()
    mask[2:6, 3:8] = True
    scores[2:6, 3:8] = 0.4
    scores[3, 4] = 0.6
    mask[14:17, 20:23] = True
    scores[14:17, 20:23] = 0.9
    return scores, mask


def test_two_blobs_are_described_and_ordered_by_max_score() -> None:
    scores, mask = two_blobs()
    strong, weak = extract_regions(scores, mask, min_area_px=1)
    assert (strong.id, weak.id) == (1, 2)
    assert strong.bbox == (20, 14, 3, 3)
    assert strong.area_px == 9
    assert strong.area_pct == pytest.approx(100 * 9 / 600)
    assert strong.max_score == pytest.approx(0.9)
    assert strong.centroid == pytest.approx((21.0, 15.0))
    assert set(strong.contour) == {(20, 14), (20, 16), (22, 16), (22, 14)}
    assert weak.bbox == (3, 2, 5, 4)
    assert weak.area_px == 20
    assert weak.max_score == pytest.approx(0.6)
    assert weak.mean_score == pytest.approx((19 * 0.4 + 0.6) / 20)


def test_scores_outside_the_mask_are_ignored() -> None:
    scores, mask = two_blobs()
    scores[0, 0] = 5.0
    assert max(region.max_score for region in extract_regions(scores, mask, min_area_px=1)) == pytest.approx(0.9)


def test_diagonally_touching_pixels_form_one_region() -> None:
    scores, mask = blank(8, 8)
    for i in range(2, 6):
        mask[i, i] = True
    (region,) = extract_regions(scores, mask, min_area_px=1)
    assert region.area_px == 4
    assert region.bbox == (2, 2, 4, 4)
    assert set(region.contour) == {(2, 2), (5, 5)}


def test_hole_is_not_part_of_area_and_inner_blob_is_its_own_region() -> None:
    scores, mask = blank(12, 12)
    mask[1:11, 1:11] = True
    mask[3:9, 3:9] = False  # ring of width 2 around a 6×6 hole
    mask[5:7, 5:7] = True  # 2×2 island inside the hole
    scores[mask] = 0.5
    scores[5:7, 5:7] = 0.8
    island, ring = extract_regions(scores, mask, min_area_px=1)
    assert island.area_px == 4
    assert ring.area_px == 100 - 36
    assert ring.bbox == (1, 1, 10, 10)
    assert set(ring.contour) == {(1, 1), (1, 10), (10, 10), (10, 1)}  # external outline only


def test_specks_below_min_area_are_dropped() -> None:
    scores, mask = two_blobs()
    mask[0, 29] = True
    scores[0, 29] = 1.0  # the highest score, but a one-pixel speck
    assert len(extract_regions(scores, mask, min_area_px=1)) == 3
    kept = extract_regions(scores, mask, min_area_px=9)
    assert [region.area_px for region in kept] == [9, 20]
    assert [region.id for region in extract_regions(scores, mask, min_area_px=10)] == [1]


def test_default_min_area_drops_small_blob() -> None:
    scores, mask = two_blobs()
    (region,) = extract_regions(scores, mask)
    assert region.area_px == 20


def test_equal_max_scores_put_the_larger_region_first() -> None:
    scores, mask = blank()
    mask[1:3, 1:3] = True
    mask[10:15, 10:15] = True
    scores[mask] = 0.7
    assert [region.area_px for region in extract_regions(scores, mask, min_area_px=1)] == [25, 4]


def test_empty_mask_gives_no_regions() -> None:
    scores, mask = blank()
    assert extract_regions(scores, mask) == []


def test_region_covering_the_whole_map() -> None:
    scores, mask = blank(4, 5)
    mask[:] = True
    (region,) = extract_regions(scores + 0.3, mask, min_area_px=1)
    assert region.area_pct == pytest.approx(100.0)
    assert region.bbox == (0, 0, 5, 4)


@pytest.mark.parametrize(
    ("scores", "mask", "message"),
    [
        (np.zeros((3, 3, 1)), np.zeros((3, 3), bool), "2-D array"),
        (np.zeros((3, 3), np.uint8), np.zeros((3, 3), bool), "floating-point"),
        (np.zeros((3, 3)), np.zeros((3, 3), np.uint8), "boolean array"),
        (np.zeros((3, 3)), np.zeros((3, 4), bool), "differs from anomaly_map shape"),
        (np.full((3, 3), np.nan), np.zeros((3, 3), bool), "NaN or infinite"),
    ],
)
def test_bad_inputs_rejected(scores: np.ndarray, mask: np.ndarray, message: str) -> None:
    with pytest.raises(RegionInputError, match=message):
        extract_regions(scores, mask)


def test_min_area_must_be_positive() -> None:
    scores, mask = blank()
    with pytest.raises(RegionInputError, match="min_area_px"):
        extract_regions(scores, mask, min_area_px=0)


def test_region_mask_fills_the_outline_back_to_the_component() -> None:
    anomaly_map = np.zeros((20, 30), np.float32)
    component = np.zeros((20, 30), bool)
    component[3:9, 4:15] = True
    component[9:14, 10:13] = True  # an L shape, so a bounding box would not do
    anomaly_map[component] = 0.8
    (region,) = extract_regions(anomaly_map, component)
    assert np.array_equal(region_mask(region, 20, 30), component)
