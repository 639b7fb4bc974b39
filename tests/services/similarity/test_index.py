"""Indexing a run into the store, searching it back, and leave-one-image-out retrieval figures."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qdrant_client import QdrantClient

from services.registry import runs as registry
from services.registry.runs import Run, RunMetrics
from services.similarity import index as defect_index
from services.similarity.crop_embedder import IMAGE_DIM, Embedder
from services.similarity.index import (
    RETRIEVAL_K,
    DefectImage,
    EmbeddedImage,
    RetrievalMetrics,
    StoredMaps,
    average_precision,
    defect_images,
    embed_defect_images,
    evaluate_retrieval,
    index_run,
    precision_at,
    record_retrieval,
    regions_of,
    touches,
)
from services.similarity.residual_embedder import PatchcoreResidualEmbedder, region_embedder_for
from services.similarity.store import (
    IndexedItem,
    ItemPayload,
    SearchFilters,
    SimilarityStore,
    open_store,
    vote_defect_type,
)
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


def test_index_is_idempotent_and_searchable(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
    run = tiny_registry.runs["patchcore"]
    first = index_run(run, store, embedder)
    filters = SearchFilters(run=run.record.run, model="patchcore", kind="region")
    count = store.count(filters)
    images = defect_images(run)
    on_defect = sum(sum(image.on_defect) for image in images)
    assert first.images == 10 and first.regions == count == on_defect > 0
    found = sum(len(image.regions) for image in images)
    assert first.regions + first.off_defect_regions == found >= first.images
    second = index_run(run, store, embedder)
    assert second == first and store.count(filters) == count
    assert store.count(SearchFilters(run=run.record.run, model="patchcore", kind="image")) == first.images
    stored = StoredMaps.of(run)
    path = tiny_registry.dataset_root / next(p for p in stored.image_paths if "/crack/" in p)
    item = store.browse(SearchFilters(run=run.record.run, kind="region", defect_type="crack"), limit=1)[0]
    assert item.payload.defect_type == "crack" and item.payload.category == "tile"

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


def test_precision_and_average_precision_of_a_hand_ranked_list() -> None:
    # Relevant at ranks 1, 3 and 4 of five: P@1 = 1, P@5 = 3/5, AP = (1/1 + 2/3 + 3/4) / 3 = 29/36 ≈ 0.8056.
    relevant = np.array([True, False, True, True, False])
    assert precision_at(relevant, 1) == 1.0
    assert precision_at(relevant, 5) == pytest.approx(0.6)
    assert average_precision(relevant) == pytest.approx(29 / 36)
    # Relevant at ranks 2 and 5: P@1 = 0, AP = (1/2 + 2/5) / 2 = 0.45.
    late = np.array([False, True, False, False, True, False])
    assert precision_at(late, 1) == 0.0
    assert average_precision(late) == pytest.approx(0.45)
    # A ranking shorter than k is scored over what it holds (2 of 3); without a relevant hit AP is 0.
    assert precision_at(np.array([False, True, True]), RETRIEVAL_K) == pytest.approx(2 / 3)
    assert average_precision(np.zeros(4, dtype=bool)) == 0.0


def _hand_run() -> Run:
    record = RunMetrics(
        dataset="synthetic",
        dataset_version="1",
        dataset_fingerprint="f",
        model="patchcore",
        category="tile",
        run="hand-ranked",
        profile="demo",
        metrics={},
        thresholds={},
        config={},
        protocol={},
        timings={},
        versions={},
        created_at="2026-12-02T00:00:00+00:00",
        device="cpu",
    )
    return Run(path=Path("/nowhere"), record=record)


def _at_degrees(angle: float) -> np.ndarray:
    """A 2-D unit vector: the cosine of two of them is the cosine of their angle difference."""
    return np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))], dtype=np.float32)


def test_retrieval_figures_of_a_hand_made_library() -> None:
    """Regions as 2-D directions (degrees), ranked by angle difference to the query, own image left out:

    A crack {0, 10}, B crack 28, C hole 50, D hole 105 are indexed; D also has a false alarm at 12 (labelled hole).
    A0   → B28 C50 D105      relevant T F F    P@1 1  P@5 1/3  AP 1
    A10  → B28 C50 D105      relevant T F F    P@1 1  P@5 1/3  AP 1
    B28  → A10 C50 A0 D105   relevant T F T F  P@1 1  P@5 2/4  AP (1 + 2/3)/2 = 5/6
    C50  → B28 A10 A0 D105   relevant F F F T  P@1 0  P@5 1/4  AP 1/4
    D105 → C50 B28 A10 A0    relevant T F F F  P@1 1  P@5 1/4  AP 1
    D12  → A10 A0 B28 C50    relevant F F F T          P@5 1/4  (false alarm: only in the all-region figure)
    P@1 = 4/5, P@5 = (1/3 + 1/3 + 1/2 + 1/4 + 1/4)/5 = 1/3, mAP = (1 + 1 + 5/6 + 1/4 + 1)/5 = 49/60,
    all-region P@5 = (20/12 + 3/12)/6 = 23/72.
    """
    run = _hand_run()
    library = {  # image: (defect type, [(angle, on the ground truth)])
        "A": ("crack", [(0, True), (10, True)]),
        "B": ("crack", [(28, True)]),
        "C": ("hole", [(50, True)]),
        "D": ("hole", [(105, True), (12, False)]),
    }
    record = run.record
    common = {"dataset": record.dataset, "category": record.category, "model": record.model, "run": record.run}
    common |= {"kind": "region", "split": "test", "score": 0.9}
    store = SimilarityStore(QdrantClient(":memory:"), ":memory:")
    embedded, items = [], []
    for name, (defect, regions) in library.items():
        path = Path(f"/data/tile/test/{defect}/{name}.png")
        on_defect = [on for _, on in regions]
        image = DefectImage(path, defect, 0.9, np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1)), [], on_defect)
        vectors = [_at_degrees(angle) for angle, _ in regions]
        embedded.append(EmbeddedImage(image, vectors, _at_degrees(0)))
        for region_id, (vector, on) in enumerate(zip(vectors, on_defect, strict=True), start=1):
            if on:
                payload = ItemPayload(
                    **{**common, "image_path": str(path), "defect_type": defect, "region_id": region_id}
                )
                items.append(IndexedItem(vector, payload))
    store.upsert(items)
    metrics = evaluate_retrieval(run, store, embedder=None, embedded=embedded)  # type: ignore[arg-type]
    assert metrics.queries == 5 and metrics.all_region_queries == 6
    assert metrics.precision_at_1 == pytest.approx(4 / 5)
    assert metrics.precision_at_5 == pytest.approx(1 / 3)
    assert metrics.mean_average_precision == pytest.approx(49 / 60)
    assert metrics.all_region_precision_at_5 == pytest.approx(23 / 72)


def brute_force_retrieval(embedded: list[EmbeddedImage]) -> RetrievalMetrics:
    """The retrieval figures from a numpy cosine ranking of the on-defect regions, without the store."""
    indexed = [
        (vector / np.linalg.norm(vector), str(entry.image.path), entry.image.defect_type)
        for entry in embedded
        for vector, on in zip(entry.region_vectors, entry.image.on_defect, strict=True)
        if on
    ]
    matrix = np.stack([vector for vector, _, _ in indexed])
    p1, p5, aps, all_p5 = [], [], [], []
    for entry in embedded:
        others = [i for i, (_, path, _) in enumerate(indexed) if path != str(entry.image.path)]
        for vector, on in zip(entry.region_vectors, entry.image.on_defect, strict=True):
            similarity = matrix[others] @ (vector / np.linalg.norm(vector))
            ranked = [others[i] for i in np.argsort(-similarity, kind="stable")]
            relevant = np.array([indexed[i][2] == entry.image.defect_type for i in ranked], dtype=bool)
            all_p5.append(float(relevant[:RETRIEVAL_K].mean()))
            if on:
                p1.append(float(relevant[0]))
                p5.append(all_p5[-1])
                aps.append(average_precision(relevant))
    figures = (float(np.mean(values)) for values in (p1, p5, aps))
    return RetrievalMetrics(len(p1), *figures, len(all_p5), float(np.mean(all_p5)))


def test_retrieval_metrics_are_recorded(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
    run = tiny_registry.runs["patchcore"]
    index_run(run, store, embedder)
    metrics = evaluate_retrieval(run, store, embedder)
    report = index_run(run, store, embedder)
    assert metrics.queries == report.regions
    assert metrics.all_region_queries == report.regions + report.off_defect_regions
    expected = brute_force_retrieval(embed_defect_images(run, embedder))
    assert asdict(metrics) == pytest.approx(asdict(expected))
    record_retrieval(run, metrics)
    saved = json.loads((run.path / registry.METRICS).read_text())["retrieval"]
    assert saved["precision_at_5"] == metrics.precision_at_5
    assert registry.manifest_status(run.path) == "ok"
    assert registry.load_run(run.path).record.retrieval["queries"] == metrics.queries


def test_reindexing_a_retrained_run_drops_its_stale_points(
    tiny_registry: TinyRegistry, store: SimilarityStore, embedder: Embedder
) -> None:
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
