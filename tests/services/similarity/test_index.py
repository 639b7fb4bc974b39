"""Indexing a run into the store, searching it back, and leave-one-image-out retrieval figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from services.registry import runs as registry
from services.similarity import index as defect_index
from services.similarity.crop_embedder import IMAGE_DIM, Embedder
from services.similarity.index import (
    StoredMaps,
    defect_images,
    defect_type_of,
    embed_defect_images,
    evaluate_retrieval,
    index_run,
    record_retrieval,
    regions_of,
    touches,
)
from services.similarity.residual_embedder import PatchcoreResidualEmbedder, region_embedder_for
from services.similarity.store import SearchFilters, SimilarityStore, open_store, vote_defect_type
from tests.conftest import TinyRegistry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder(tiny_registry: TinyRegistry) -> Embedder:
    return Embedder(tiny_registry.settings)


@pytest.fixture(scope="module")
def store(tiny_registry: TinyRegistry) -> SimilarityStore:
    return open_store(tiny_registry.settings)


def test_regions_fall_back_to_the_peak_when_nothing_passes_the_threshold() -> None:
    anomaly_map = np.full((32, 32), 0.1, np.float32)
    anomaly_map[10:14, 20:25] = 0.3
    regions = regions_of(anomaly_map)
    assert len(regions) == 1
    assert regions[0].bbox == (20, 10, 5, 4)
    anomaly_map[0:3, 0:8] = 0.9
    assert [r.bbox for r in regions_of(anomaly_map)] == [(0, 0, 8, 3)]


def test_a_region_touches_the_ground_truth_when_one_pixel_overlaps() -> None:
    anomaly_map = np.zeros((20, 20), np.float32)
    anomaly_map[2:6, 2:6] = 0.9
    region = regions_of(anomaly_map)[0]
    truth = np.zeros((20, 20), bool)
    truth[6:10, 6:10] = True
    assert not touches(region, truth)
    truth[5, 5] = True
    assert touches(region, truth)


def test_only_regions_on_the_ground_truth_are_indexed(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
    run = tiny_registry.runs["patchcore"]
    index_run(run, store, embedder)
    images = {str(image.path): image for image in defect_images(run)}
    indexed = store.browse(SearchFilters(run=run.record.run, model="patchcore", kind="region"), limit=1000)
    assert indexed
    for item in indexed:
        image = images[item.payload.image_path]
        [on_defect] = [
            on for region, on in zip(image.regions, image.on_defect, strict=True) if region.id == item.payload.region_id
        ]
        assert on_defect and item.payload.defect_type == image.defect_type


def test_defect_type_comes_from_the_folder() -> None:
    assert defect_type_of("tile/test/glue_strip/003.png") == "glue_strip"


def test_index_is_idempotent_and_searchable(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
    run = tiny_registry.runs["patchcore"]
    first = index_run(run, store, embedder)
    filters = SearchFilters(run=run.record.run, model="patchcore", kind="region")
    count = store.count(filters)
    assert first.images == 10 and first.regions == count > 0
    found = sum(len(image.regions) for image in defect_images(run))
    assert first.regions + first.off_defect_regions == found >= first.images
    second = index_run(run, store, embedder)
    assert second == first and store.count(filters) == count
    assert store.count(SearchFilters(run=run.record.run, model="patchcore", kind="image")) == first.images
    stored = StoredMaps.of(run)
    path = tiny_registry.dataset_root / next(p for p in stored.image_paths if "/crack/" in p)
    item = store.browse(SearchFilters(run=run.record.run, kind="region", defect_type="crack"), limit=1)[0]
    assert item.payload.defect_type == "crack" and item.payload.category == "tile"
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"))
    index = stored.image_paths.index(str(path.relative_to(tiny_registry.dataset_root)))
    anomaly_map = np.asarray(Image.fromarray(stored.maps[index].astype(np.float32)).resize(rgb.shape[1::-1]))
    region_embedder = region_embedder_for(run, embedder)
    assert isinstance(region_embedder, PatchcoreResidualEmbedder)
    vectors = region_embedder.region_vectors(rgb, anomaly_map, regions_of(anomaly_map))
    assert vectors.shape[1] == region_embedder.dim and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    own = store.search(vectors[0], k=1, filters=filters)[0]
    assert own.payload.image_path == str(path) and own.similarity == pytest.approx(1.0, abs=1e-4)
    others = store.search(
        vectors[0], k=5, filters=SearchFilters(**{**filters.__dict__, "exclude_image_path": str(path)})
    )
    assert others and all(n.payload.image_path != str(path) for n in others)
    assert vote_defect_type(others).total == len(others)
    assert embedder.image_vector(rgb).shape == (IMAGE_DIM,)


def test_retrieval_metrics_are_recorded(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
    run = tiny_registry.runs["patchcore"]
    index_run(run, store, embedder)
    metrics = evaluate_retrieval(run, store, embedder)
    report = index_run(run, store, embedder)
    assert metrics.queries == report.regions
    assert metrics.all_region_queries == report.regions + report.off_defect_regions
    assert 0.0 <= metrics.all_region_precision_at_5 <= 1.0
    for value in (metrics.precision_at_1, metrics.precision_at_5, metrics.mean_average_precision):
        assert 0.0 <= value <= 1.0
    record_retrieval(run, metrics)
    saved = json.loads((run.path / registry.METRICS).read_text())["retrieval"]
    assert saved["precision_at_5"] == metrics.precision_at_5
    assert registry.manifest_status(run.path) == "ok"
    assert registry.load_run(run.path).record.retrieval["queries"] == metrics.queries


def test_reindexing_a_retrained_run_drops_its_stale_points(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
    from services.similarity.store import IndexedItem, ItemPayload

    run = tiny_registry.runs["patchcore"]
    report = index_run(run, store, embedder)
    record = run.record
    stale = ItemPayload(
        dataset=record.dataset,
        category=record.category,
        model=record.model,
        run=record.run,
        kind="region",
        image_path="/gone/retrained/region.png",
        split="test",
        score=0.9,
        defect_type="crack",
        region_id=99,
        bbox=(0, 0, 4, 4),
    )
    dim = PatchcoreResidualEmbedder(run, embedder).dim
    store.upsert([IndexedItem(vector=np.eye(dim, dtype=np.float32)[0], payload=stale)])
    filters = SearchFilters(run=record.run, model=record.model, kind="region")
    assert store.count(filters) == report.regions + 1
    index_run(run, store, embedder)
    assert store.count(filters) == report.regions
    assert store.count(SearchFilters(run=record.run, model=record.model, kind="image")) == report.images


def test_vectors_computed_once_serve_indexing_and_evaluation(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tiny_registry.runs["patchcore"]
    fresh_report = index_run(run, store, embedder)
    fresh = evaluate_retrieval(run, store, embedder)
    embedded = embed_defect_images(run, embedder)
    assert [len(e.region_vectors) for e in embedded] == [len(e.image.regions) for e in embedded]

    def no_second_embedding(*_: object) -> None:
        raise AssertionError("regions embedded again")

    monkeypatch.setattr(defect_index, "region_embedder_for", no_second_embedding)
    assert index_run(run, store, embedder, embedded) == fresh_report
    assert evaluate_retrieval(run, store, embedder, embedded) == fresh
