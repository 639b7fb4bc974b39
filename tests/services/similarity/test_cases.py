"""Similar defect cases: a region's or a stored case's neighbours, their vote, and each case's drawing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from services.postprocessing.visualization import CONTOUR_RGB
from services.registry.runs import Run
from services.similarity.cases import THUMBNAIL_PX, CaseLibrary, CaseLookupError, draw_case, region_filters
from services.similarity.crop_embedder import Embedder
from services.similarity.index import defect_images, index_run
from services.similarity.store import ItemPayload, SimilarityStore, open_store
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library(tiny_registry: TinyRegistry) -> CaseLibrary:
    settings = tiny_registry.settings
    run = tiny_registry.runs["patchcore"]
    store: SimilarityStore = open_store(settings)
    embedder = Embedder(settings)
    index_run(run, store, embedder)
    return CaseLibrary(run, store, embedder, settings)


def test_every_indexed_region_is_a_case_highest_score_first(library: CaseLibrary) -> None:
    cases = library.cases()
    on_defect = sum(sum(image.on_defect) for image in defect_images(library.run))
    assert len(cases) == library.indexed_regions() == on_defect > 0
    assert [c.payload.score for c in cases] == sorted((c.payload.score for c in cases), reverse=True)
    cracks = library.cases(defect_type="crack")
    assert cracks and all(c.payload.defect_type == "crack" for c in cracks) and len(cracks) < len(cases)


def test_a_cases_neighbours_leave_out_its_own_image_and_carry_the_vote(library: CaseLibrary) -> None:
    case = library.cases(defect_type="crack")[0]
    found = library.similar_to_case(case.payload, k=4)
    assert 1 <= len(found.cases) <= 4
    assert all(c.payload.image_path != case.payload.image_path for c in found.cases)
    assert [c.similarity for c in found.cases] == sorted((c.similarity for c in found.cases), reverse=True)
    assert found.vote.total == len(found.cases)
    assert found.vote.votes == sum(c.payload.defect_type == found.vote.label for c in found.cases)


def test_a_region_finds_its_own_stored_case_first(library: CaseLibrary) -> None:
    case = library.cases()[0]
    rgb, anomaly_map = library.case_pixels(case.payload)
    region = library.case_region(case.payload, anomaly_map)
    found = library.similar_to_region(rgb, anomaly_map, region, k=3)
    assert found.cases[0].payload.image_path == case.payload.image_path
    assert found.cases[0].payload.region_id == region.id
    assert found.cases[0].similarity == pytest.approx(1.0, abs=1e-4)


def test_thumbnails_are_crops_of_the_case_with_its_outline(library: CaseLibrary) -> None:
    case = library.cases()[0]
    thumbnail = library.thumbnail(case.payload)
    assert thumbnail.image.shape == thumbnail.heatmap.shape
    assert max(thumbnail.image.shape[:2]) == THUMBNAIL_PX
    assert (thumbnail.heatmap == np.array(CONTOUR_RGB, np.uint8)).all(axis=-1).any()
    assert not (thumbnail.image == np.array(CONTOUR_RGB, np.uint8)).all(axis=-1).any()
    assert library.thumbnail(case.payload) is thumbnail


def test_a_stale_case_is_reported_as_such(library: CaseLibrary) -> None:
    payload = library.cases()[0].payload
    with pytest.raises(CaseLookupError, match="re-index the run"):
        library.case_region(ItemPayload(**{**payload.to_json(), "region_id": 99, "bbox": None}), np.zeros((8, 8)))
    elsewhere = ItemPayload(**{**payload.to_json(), "image_path": "/elsewhere/tile/test/crack/000.png", "bbox": None})
    with pytest.raises(CaseLookupError, match="not among the stored maps"):
        library.case_pixels(elsewhere)


def test_region_filters_select_only_the_runs_regions(tiny_registry: TinyRegistry) -> None:
    run: Run = tiny_registry.runs["efficientad"]
    filters = region_filters(run, exclude_image_path="/x.png")
    record = run.record
    own = ItemPayload(
        record.dataset, record.category, record.model, record.run, "region", "/y.png", "test", 0.9, "crack", 1
    )
    assert filters.selects(own.partition) and filters.accepts(own)
    assert not filters.accepts(replace(own, image_path="/x.png"))
    elsewhere = ({"kind": "image", "region_id": 0}, {"model": "patchcore"}, {"run": "r2"}, {"category": "grid"})
    for change in elsewhere:
        assert not filters.selects(replace(own, **change).partition), change


def test_draw_case_scales_the_longest_side() -> None:
    from services.postprocessing.regions import extract_regions

    anomaly_map = np.zeros((300, 200), np.float32)
    anomaly_map[100:140, 50:70] = 0.9
    (region,) = extract_regions(anomaly_map, anomaly_map > 0.5)
    thumbnail = draw_case(np.zeros((300, 200, 3), np.uint8), anomaly_map, region)
    assert max(thumbnail.heatmap.shape[:2]) == THUMBNAIL_PX
