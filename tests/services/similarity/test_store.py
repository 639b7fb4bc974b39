"""The similar-defect store against a numpy brute-force cosine oracle, embedded and (when configured) on a server."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from services.settings import PREFIX, Settings
from services.similarity.store import (
    OVERFETCH_LIMIT,
    UNKNOWN_DEFECT,
    DefectVote,
    IndexedItem,
    ItemPayload,
    Neighbour,
    SearchFilters,
    SimilarityInputError,
    SimilarityStore,
    StoreUnavailableError,
    close_stores,
    open_store,
    vote_defect_type,
)
from tests.services.similarity.store_faults import DAMAGES, held_by_another_process

DIM = 16
DEFECTS = ("crack", "hole", "cut")
SERVER_URL = os.environ.get(PREFIX + "QDRANT_URL", "")


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest) -> Iterator[SimilarityStore]:
    """An empty in-memory store, or the configured server (tests isolate themselves by a fresh run name)."""
    if request.param == "embedded":
        memory = SimilarityStore(QdrantClient(":memory:"), ":memory:")
        yield memory
        memory.close()
        return
    if not SERVER_URL:
        pytest.skip(f"no {PREFIX}QDRANT_URL")
    yield open_store(Settings.from_env())
    close_stores()


@pytest.fixture
def run_name(store: SimilarityStore) -> Iterator[str]:
    name = f"run-{uuid.uuid4().hex[:10]}"
    yield name
    for category in ("tile", "grid"):
        store.delete_run("synthetic", "patchcore", category, name)


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(registry_dir=tmp_path)
    close_stores()


def make_items(
    run: str,
    n_images: int,
    regions_per_image: int = 3,
    *,
    category: str = "tile",
    kind: str = "region",
    dim: int = DIM,
    seed: int = 0,
) -> list[IndexedItem]:
    rng = np.random.default_rng(seed)
    items = []
    for image in range(n_images):
        for region in range(1, regions_per_image + 1):
            payload = ItemPayload(
                dataset="synthetic",
                category=category,
                model="patchcore",
                run=run,
                kind=kind,  # type: ignore[arg-type]
                image_path=f"{category}/test/img{image:03d}.png",
                split="test",
                score=float(rng.random()),
                defect_type=DEFECTS[image % len(DEFECTS)],
                region_id=region if kind == "region" else 0,
                bbox=(region, region, 5, 5) if kind == "region" else None,
            )
            items.append(IndexedItem(rng.normal(size=dim).astype(np.float32), payload))
    return items


def oracle(items: list[IndexedItem], query: np.ndarray, k: int, filters: SearchFilters) -> list[tuple[str, float]]:
    """Brute-force cosine top-k over the items that ``filters`` select."""
    kept = [item for item in items if filters.selects(item.payload.partition) and filters.accepts(item.payload)]
    matrix = np.stack([item.vector / np.linalg.norm(item.vector) for item in kept])
    similarities = matrix @ (query / np.linalg.norm(query))
    order = np.argsort(-similarities)[:k]
    return [(kept[i].payload.point_id, float(similarities[i])) for i in order]


def assert_matches_oracle(hits: list[Neighbour], expected: list[tuple[str, float]]) -> None:
    assert [hit.id for hit in hits] == [point_id for point_id, _ in expected]
    np.testing.assert_allclose([hit.similarity for hit in hits], [s for _, s in expected], atol=1e-5)


def partition_filters(run: str, **conditions: str) -> SearchFilters:
    return SearchFilters(dataset="synthetic", model="patchcore", category="tile", run=run, kind="region", **conditions)


def test_search_equals_brute_force_oracle(store: SimilarityStore, run_name: str) -> None:
    items = make_items(run_name, 40) + make_items(run_name, 20, category="grid", seed=1)
    assert store.upsert(items) == len(items)
    rng = np.random.default_rng(7)
    for filters in (partition_filters(run_name), SearchFilters(run=run_name, kind="region")):
        for _ in range(5):
            query = rng.normal(size=DIM).astype(np.float32)
            assert_matches_oracle(store.search(query, k=5, filters=filters), oracle(items, query, 5, filters))


def test_own_image_is_found_then_excluded(store: SimilarityStore, run_name: str) -> None:
    items = make_items(run_name, 30)
    store.upsert(items)
    probe = items[10]
    top = store.search(probe.vector, k=3, filters=partition_filters(run_name))
    assert top[0].id == probe.payload.point_id
    assert top[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert top[0].payload == probe.payload
    filters = partition_filters(run_name, exclude_image_path=probe.payload.image_path)
    hits = store.search(probe.vector, k=5, filters=filters)
    assert all(hit.payload.image_path != probe.payload.image_path for hit in hits)
    assert_matches_oracle(hits, oracle(items, probe.vector, 5, filters))


def test_defect_type_filter_equals_oracle(store: SimilarityStore, run_name: str) -> None:
    items = make_items(run_name, 30)
    store.upsert(items)
    query = np.random.default_rng(3).normal(size=DIM)
    filters = partition_filters(run_name, defect_type="hole")
    hits = store.search(query, k=5, filters=filters)
    assert {hit.payload.defect_type for hit in hits} == {"hole"}
    assert_matches_oracle(hits, oracle(items, query, 5, filters))


def test_filters_drop_the_points_they_name_and_keep_the_rest(store: SimilarityStore, run_name: str) -> None:
    """Query e0 against tile regions at cosine 1, 0.8 and 0.6, a grid region at 0.9 and a tile image at 1."""
    e0, e1 = np.eye(DIM, dtype=np.float32)[:2]
    base = make_items(run_name, 1, 1)[0].payload

    def point(vector: np.ndarray, image: str, defect: str, **change: object) -> IndexedItem:
        return IndexedItem(vector, replace(base, image_path=image, defect_type=defect, **change))

    crack, hole, far_crack = (
        point(e0, "a.png", "crack"),
        point(0.8 * e0 + 0.6 * e1, "b.png", "hole"),
        point(0.6 * e0 + 0.8 * e1, "c.png", "crack"),
    )
    grid = point(0.9 * e0 + np.sqrt(0.19) * e1, "g.png", "crack", category="grid")
    whole_image = point(e0, "a.png", "crack", kind="image", region_id=0, bbox=None)
    store.upsert([crack, hole, far_crack, grid, whole_image])

    def found(filters: SearchFilters) -> list[tuple[str, float]]:
        return [(hit.payload.image_path, round(hit.similarity, 4)) for hit in store.search(e0, k=5, filters=filters)]

    assert found(partition_filters(run_name)) == [("a.png", 1.0), ("b.png", 0.8), ("c.png", 0.6)]
    assert found(partition_filters(run_name, defect_type="crack")) == [("a.png", 1.0), ("c.png", 0.6)]
    assert found(partition_filters(run_name, exclude_image_path="a.png")) == [("b.png", 0.8), ("c.png", 0.6)]
    assert found(SearchFilters(run=run_name, kind="region", exclude_image_path="b.png")) == [
        ("a.png", 1.0),
        ("g.png", 0.9),
        ("c.png", 0.6),
    ]
    assert found(SearchFilters(run=run_name, kind="image")) == [("a.png", 1.0)]


def test_rare_condition_falls_back_to_a_payload_filter(store: SimilarityStore, run_name: str) -> None:
    """One 'hole' among more points than the over-fetch reaches: the result is still exact."""
    items = [replace(item, payload=replace(item.payload, defect_type="crack")) for item in make_items(run_name, 150)]
    assert len(items) > OVERFETCH_LIMIT
    rare = len(items) // 2
    items[rare] = replace(items[rare], payload=replace(items[rare].payload, defect_type="hole"))
    store.upsert(items)
    query = -items[rare].vector  # the rare point is the least similar of all
    hits = store.search(query, k=5, filters=partition_filters(run_name, defect_type="hole"))
    assert [hit.id for hit in hits] == [items[rare].payload.point_id]


def test_kind_and_category_choose_collections(store: SimilarityStore, run_name: str) -> None:
    regions = make_items(run_name, 10)
    images = make_items(run_name, 10, regions_per_image=1, kind="image", seed=2)
    grid = make_items(run_name, 10, category="grid", seed=3)
    store.upsert(regions + images + grid)
    query = images[0].vector
    image_hits = store.search(query, k=3, filters=SearchFilters(run=run_name, kind="image"))
    assert image_hits[0].id == images[0].payload.point_id
    assert {hit.payload.kind for hit in image_hits} == {"image"}
    assert image_hits[0].payload.bbox is None
    grid_hits = store.search(query, k=30, filters=SearchFilters(run=run_name, category="grid"))
    assert {hit.payload.category for hit in grid_hits} == {"grid"}
    assert len(grid_hits) == 30
    assert store.count(SearchFilters(run=run_name)) == len(regions) + len(images) + len(grid)
    assert store.count(SearchFilters(run=run_name, kind="image")) == len(images)
    assert store.count(SearchFilters(run=run_name, category="grid", defect_type="crack")) == 12


def test_reindexing_is_idempotent_and_updates_payload(store: SimilarityStore, run_name: str) -> None:
    items = make_items(run_name, 12)
    store.upsert(items)
    filters = partition_filters(run_name)
    assert store.count(filters) == len(items)
    relabelled = [replace(item, payload=replace(item.payload, defect_type="oil")) for item in items]
    assert store.upsert(relabelled) == len(items)
    assert store.count(filters) == len(items)
    assert store.count(partition_filters(run_name, defect_type="oil")) == len(items)
    top = store.search(items[0].vector, k=1, filters=filters)
    assert top[0].payload.defect_type == "oil"


def test_browse_pages_cover_every_point_once(store: SimilarityStore, run_name: str) -> None:
    items = make_items(run_name, 7) + make_items(run_name, 4, category="grid", seed=5)
    store.upsert(items)
    filters = SearchFilters(run=run_name)
    pages = [store.browse(filters, limit=4, offset=offset) for offset in range(0, 40, 4)]
    assert [len(page) for page in pages] == [4] * 8 + [1, 0]
    ids = [item.id for page in pages for item in page]
    assert sorted(ids) == sorted(item.payload.point_id for item in items)
    assert store.browse(filters, limit=4, offset=4) == pages[1]
    cracks = store.browse(SearchFilters(run=run_name, defect_type="crack"), limit=100)
    assert len(cracks) == store.count(SearchFilters(run=run_name, defect_type="crack"))
    assert {item.payload.defect_type for item in cracks} == {"crack"}


def test_delete_run_removes_only_that_run(store: SimilarityStore, run_name: str) -> None:
    other_run = f"{run_name}-other"
    store.upsert(make_items(run_name, 5) + make_items(run_name, 5, regions_per_image=1, kind="image"))
    store.upsert(make_items(other_run, 3))
    assert store.delete_run("synthetic", "patchcore", "tile", run_name) == 20
    assert store.count(SearchFilters(run=run_name)) == 0
    assert store.count(SearchFilters(run=other_run)) == 9
    store.delete_run("synthetic", "patchcore", "tile", other_run)


def test_search_of_an_empty_selection_is_empty(store: SimilarityStore, run_name: str) -> None:
    assert store.search(np.ones(DIM), filters=SearchFilters(run=run_name)) == []
    assert store.count(SearchFilters(run=run_name)) == 0
    assert store.browse(SearchFilters(run=run_name)) == []


def test_vectors_of_another_size_are_rejected(store: SimilarityStore, run_name: str) -> None:
    store.upsert(make_items(run_name, 2))
    store.upsert(make_items(run_name, 2, category="grid", dim=DIM * 2))
    with pytest.raises(SimilarityInputError, match="narrow the filters"):
        store.search(np.ones(DIM), filters=SearchFilters(run=run_name))
    assert len(store.search(np.ones(DIM), filters=SearchFilters(run=run_name, category="tile"))) == 5
    with pytest.raises(SimilarityInputError, match="holds 16-d vectors, got 32-d"):
        store.upsert(make_items(run_name, 1, dim=DIM * 2))


@pytest.mark.parametrize(
    ("vector", "message"),
    [(np.zeros(DIM), "all zeros"), (np.full(DIM, np.nan), "NaN or infinite"), (np.ones((2, DIM)), "1-D vector")],
)
def test_bad_query_vectors_rejected(vector: np.ndarray, message: str) -> None:
    store = SimilarityStore(QdrantClient(":memory:"), ":memory:")
    with pytest.raises(SimilarityInputError, match=message):
        store.search(vector)
    with pytest.raises(SimilarityInputError, match=message):
        store.upsert([IndexedItem(vector, make_items("r", 1, 1)[0].payload)])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "patch"}, "kind='patch'"),
        ({"run": "a__b"}, "run='a__b' is not accepted"),
        ({"category": "tile/x"}, "category='tile/x' is not accepted"),
        ({"image_path": ""}, "image_path"),
        ({"region_id": -1}, "region_id"),
    ],
)
def test_bad_payloads_rejected(change: dict[str, object], message: str) -> None:
    payload = make_items("r", 1, 1)[0].payload
    with pytest.raises(SimilarityInputError, match=message):
        replace(payload, **change)


def test_point_ids_are_deterministic_uuids() -> None:
    first, second = make_items("r", 1, 2)
    assert first.payload.point_id == make_items("r", 1, 2, seed=9)[0].payload.point_id
    assert first.payload.point_id != second.payload.point_id
    assert uuid.UUID(first.payload.point_id).version == 5
    assert ItemPayload.from_json(first.payload.to_json()) == first.payload


def neighbour(label: str, similarity: float) -> Neighbour:
    payload = replace(make_items("r", 1, 1)[0].payload, defect_type=label)
    return Neighbour(id=str(uuid.uuid4()), similarity=similarity, payload=payload)


def test_vote_majority() -> None:
    vote = vote_defect_type([neighbour(label, 0.9) for label in ("crack", "crack", "hole", "crack", "crack")])
    assert vote == DefectVote("crack", 4, 5, 0.8)
    assert vote.summary == "likely crack, 4 of 5"


def test_vote_tie_goes_to_the_more_similar_label() -> None:
    labelled = [("hole", 0.5), ("crack", 0.9), ("hole", 0.6), ("crack", 0.7)]
    vote = vote_defect_type([neighbour(label, similarity) for label, similarity in labelled])
    assert (vote.label, vote.votes, vote.total) == ("crack", 2, 4)


def test_unknown_neighbours_count_but_never_vote() -> None:
    vote = vote_defect_type([neighbour(UNKNOWN_DEFECT, 0.99)] * 3 + [neighbour("cut", 0.2)] * 2)
    assert (vote.label, vote.votes, vote.total, vote.confidence) == ("cut", 2, 5, 0.4)
    nothing = vote_defect_type([neighbour(UNKNOWN_DEFECT, 0.9)])
    assert (nothing.label, nothing.votes, nothing.confidence) == (UNKNOWN_DEFECT, 0, 0.0)
    assert vote_defect_type([]).total == 0


def test_embedded_store_is_one_per_process_and_persists(embedded_settings: Settings) -> None:
    store = open_store(embedded_settings)
    assert open_store(embedded_settings.with_overrides(seed=5)) is store
    assert store.target == str(embedded_settings.qdrant_path)
    store.upsert(make_items("persisted", 4))
    close_stores()
    (storage,) = embedded_settings.qdrant_path.glob("collection/*/storage.sqlite")
    with closing(sqlite3.connect(storage)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    reopened = open_store(embedded_settings)
    assert reopened is not store
    assert reopened.count(SearchFilters(run="persisted")) == 12


def test_second_client_on_the_same_folder_is_refused(embedded_settings: Settings) -> None:
    holder = QdrantClient(path=str(embedded_settings.qdrant_path))
    try:
        with pytest.raises(StoreUnavailableError, match="already accessed by another instance") as info:
            open_store(embedded_settings)
        assert str(embedded_settings.qdrant_path) in str(info.value)
        assert f"{PREFIX}QDRANT_URL" in str(info.value)
    finally:
        holder.close()
    assert open_store(embedded_settings).count() == 0  # the failed open was not cached


def test_folder_locked_by_another_process(embedded_settings: Settings) -> None:
    path = embedded_settings.qdrant_path
    with (
        held_by_another_process(path),
        pytest.raises(StoreUnavailableError, match=f"embedded Qdrant store at {path} cannot be opened"),
    ):
        open_store(embedded_settings)
    assert open_store(embedded_settings).count() == 0


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_store_files_are_reported_and_the_repaired_store_opens(
    embedded_settings: Settings, damage: str
) -> None:
    """Every damage is the one typed error naming the folder and the way out; a failed open holds no lock."""
    open_store(embedded_settings).upsert(make_items("kept", 4))
    close_stores()
    path = embedded_settings.qdrant_path
    saved = {file: file.read_bytes() for file in path.rglob("*") if file.is_file()}
    DAMAGES[damage](path)
    with pytest.raises(StoreUnavailableError) as refused:
        open_store(embedded_settings)
    message = str(refused.value)
    assert message.startswith(f"embedded Qdrant store at {path} is damaged and cannot be read (")
    assert message.endswith("rebuild the index with `python -m services.cli index`.")
    for file, data in saved.items():
        file.write_bytes(data)
    assert open_store(embedded_settings).count(SearchFilters(run="kept")) == 12


def test_unreachable_server_is_reported(no_network: list[str]) -> None:
    settings = Settings(qdrant_url="http://127.0.0.1:9")
    with pytest.raises(StoreUnavailableError, match=r"Qdrant server at http://127\.0\.0\.1:9 is unreachable"):
        open_store(settings)
    assert no_network == []


def test_concurrent_searches_and_upserts(embedded_settings: Settings) -> None:
    store = open_store(embedded_settings)
    seeded = make_items("busy", 30)
    store.upsert(seeded)
    filters = SearchFilters(run="busy", kind="region")
    errors: list[BaseException] = []
    searches = [0]
    deadline = time.monotonic() + 2.0

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while time.monotonic() < deadline:
            query = rng.normal(size=DIM)
            image = f"tile/test/img{rng.integers(30):03d}.png"
            try:
                hits = store.search(query, k=5, filters=replace(filters, exclude_image_path=image))
                assert len(hits) == 5 and all(hit.payload.image_path != image for hit in hits)
                store.count(filters)
            except BaseException as exc:
                errors.append(exc)
                return
            searches[0] += 1

    def writer(offset: int) -> None:
        batch = 0
        while time.monotonic() < deadline:
            fresh = make_items("busy", 2, seed=1000 + offset + batch)
            fresh = [
                replace(item, payload=replace(item.payload, image_path=f"w{offset}/{batch}/{item.payload.image_path}"))
                for item in fresh
            ]
            try:
                store.upsert(fresh)
            except BaseException as exc:
                errors.append(exc)
                return
            batch += 1

    threads = [threading.Thread(target=searcher, args=(seed,)) for seed in range(6)]
    threads += [threading.Thread(target=writer, args=(offset,)) for offset in (0, 10_000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert searches[0] > 20
    assert store.count(filters) > len(seeded)


def _confirmed(items: list[IndexedItem], record_id: str) -> list[IndexedItem]:
    """``items`` as defects confirmed in production on one record."""
    return [IndexedItem(item.vector, replace(item.payload, source="production", record_id=record_id)) for item in items]


def test_points_older_than_sources_count_as_test_and_delete_takes_one_record(
    store: SimilarityStore, run_name: str
) -> None:
    tested = make_items(run_name, 3)  # 9 points, stored without a source
    store.upsert(tested)
    for collection in {item.payload.partition.collection for item in tested}:  # as written before sources existed
        store._client.delete_payload(
            collection, keys=["source", "record_id"], points=[i.payload.point_id for i in tested]
        )
    store.upsert(
        _confirmed(make_items(run_name, 2, seed=1), "record-a")
        + _confirmed(make_items(run_name, 1, seed=2), "record-b")
    )
    production = SearchFilters(run=run_name, source="production")
    assert store.count(SearchFilters(run=run_name, source="test")) == 9
    assert store.count(production) == 9
    assert {item.payload.source for item in store.browse(SearchFilters(run=run_name, source="test"), limit=20)} == {
        "test"
    }
    assert store.delete(replace(production, record_id="record-a")) == 6
    assert store.count(production) == 3
    assert store.count(SearchFilters(run=run_name, record_id="record-b")) == 3
    assert store.count(SearchFilters(run=run_name)) == 12
    with pytest.raises(SimilarityInputError, match="delete needs a payload condition"):
        store.delete(SearchFilters(run=run_name))


def test_a_production_point_needs_its_record_and_ids_differ_per_record() -> None:
    payload = make_items("r", 1, 1)[0].payload
    with pytest.raises(SimilarityInputError, match="a production point needs its record_id"):
        replace(payload, source="production")
    with pytest.raises(SimilarityInputError, match="only a production point has one"):
        replace(payload, record_id="record-a")
    with pytest.raises(SimilarityInputError, match="source='field' is not one of test, production"):
        replace(payload, source="field")
    first, second = (replace(payload, source="production", record_id=name) for name in ("a", "b"))
    assert len({payload.point_id, first.point_id, second.point_id}) == 3
    assert first.point_id == replace(payload, source="production", record_id="a").point_id
