"""Embedded similarity store: ingest rate, reopen time and neighbour-query latency at several sizes.

Usage: ``python -m benchmarks.bench_qdrant [--sizes 1000 10000 50000] [--dim 256] [--queries 50]``

Each size gets a fresh embedded store (``QdrantClient(path=...)`` in a temporary registry) holding N random unit
vectors in ONE partition (the worst case for the one-collection-per-run layout), 4 regions per image and 5 defect
types. Query rows, measured side by side on the same store, ``k`` = 5:

* ``unfiltered``: the partition alone;
* ``exclude own image``: the dashboard's neighbour query (over-fetch, then drop the query image in Python);
* ``defect_type (1 in 5)``: a payload condition that keeps 20 % of the points (over-fetch as well);
* ``Qdrant payload filter``: the same exclusion handed to Qdrant as a filter (the store's over-fetch switched off),
  i.e. what a single shared collection filtered by payload would cost in embedded mode;
* ``raw COSINE`` / ``raw DOT``: bare ``query_points`` on in-memory collections of the same unit vectors with each
  distance, for the store's choice of ``DOT``.

Ingest is also measured once with the store's SQLite tuning switched off (qdrant-client's default journal, one
fsync-heavy transaction per point) on ``--default-journal-points`` points, for the ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
from qdrant_client import QdrantClient, models

from services.settings import Settings
from services.similarity import store as similarity
from services.similarity.store import IndexedItem, ItemPayload, SearchFilters, SimilarityStore, close_stores, open_store

DEFECTS = ("crack", "glue_strip", "gray_stroke", "oil", "rough")
REGIONS_PER_IMAGE = 4
WARMUP = 3


def make_items(n: int, dim: int, rng: np.random.Generator) -> list[IndexedItem]:
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        IndexedItem(
            vectors[i],
            ItemPayload(
                dataset="synthetic",
                category="tile",
                model="patchcore",
                run="bench",
                kind="region",
                image_path=f"tile/test/img{i // REGIONS_PER_IMAGE:06d}.png",
                split="test",
                score=float(rng.random()),
                defect_type=DEFECTS[(i // REGIONS_PER_IMAGE) % len(DEFECTS)],
                region_id=i % REGIONS_PER_IMAGE + 1,
                bbox=(0, 0, 8, 8),
            ),
        )
        for i in range(n)
    ]


def latency_ms(
    store: SimilarityStore, filters_for: list[SearchFilters], dim: int, rng: np.random.Generator
) -> tuple[float, float]:
    """p50 and p95 of ``store.search`` over one random query per entry of ``filters_for``."""
    timings = []
    for index, filters in enumerate(filters_for):
        query = rng.normal(size=dim)
        start = time.perf_counter()
        hits = store.search(query, k=5, filters=filters)
        elapsed = (time.perf_counter() - start) * 1000
        assert len(hits) == 5
        if index >= WARMUP:
            timings.append(elapsed)
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 95))


def distance_rows(items: list[IndexedItem], count: int, rng: np.random.Generator) -> dict[str, tuple[float, float]]:
    """p50/p95 of bare ``query_points`` on two in-memory collections of ``items``' vectors, COSINE and DOT."""
    client = QdrantClient(":memory:")
    vectors = np.stack([item.vector for item in items])
    rows = {}
    for distance in (models.Distance.COSINE, models.Distance.DOT):
        name = distance.value.lower()
        client.create_collection(name, vectors_config=models.VectorParams(size=vectors.shape[1], distance=distance))
        for start in range(0, len(items), 1000):
            chunk = vectors[start : start + 1000]
            client.upsert(name, points=models.Batch(ids=list(range(start, start + len(chunk))), vectors=chunk.tolist()))
        timings = []
        for index in range(count):
            query = rng.normal(size=vectors.shape[1])
            query /= np.linalg.norm(query)
            begin = time.perf_counter()
            client.query_points(name, query=query, limit=5)
            if index >= WARMUP:
                timings.append((time.perf_counter() - begin) * 1000)
        rows[f"raw {distance.value.upper()}"] = (float(np.percentile(timings, 50)), float(np.percentile(timings, 95)))
    client.close()
    return rows


def ingest_rate(items: list[IndexedItem]) -> float:
    """Points per second of one ``upsert`` of ``items`` into a fresh embedded store."""
    with tempfile.TemporaryDirectory() as registry:
        store = open_store(Settings(registry_dir=Path(registry)))
        start = time.perf_counter()
        store.upsert(items)
        elapsed = time.perf_counter() - start
        close_stores()
    return len(items) / elapsed


def bench_size(n: int, dim: int, queries: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    items = make_items(n, dim, rng)
    base = SearchFilters(dataset="synthetic", model="patchcore", category="tile", run="bench", kind="region")
    count = queries + WARMUP

    def excluding_images(how_many: int) -> list[SearchFilters]:
        picks = rng.integers(0, n // REGIONS_PER_IMAGE, size=how_many)
        return [replace(base, exclude_image_path=items[int(p) * REGIONS_PER_IMAGE].payload.image_path) for p in picks]

    with tempfile.TemporaryDirectory() as registry:
        settings = Settings(registry_dir=Path(registry))
        store = open_store(settings)
        start = time.perf_counter()
        store.upsert(items)
        ingest_s = time.perf_counter() - start
        close_stores()
        disk_mb = sum(f.stat().st_size for f in Path(registry).rglob("*") if f.is_file()) / 2**20
        start = time.perf_counter()
        store = open_store(settings)
        reopen_s = time.perf_counter() - start
        assert store.count(base) == n
        rows = {
            "unfiltered": latency_ms(store, [base] * count, dim, rng),
            "exclude own image": latency_ms(store, excluding_images(count), dim, rng),
            "defect_type (1 in 5)": latency_ms(
                store, [replace(base, defect_type=DEFECTS[i % len(DEFECTS)]) for i in range(count)], dim, rng
            ),
        }
        with mock.patch.object(similarity, "OVERFETCH_LIMIT", 0):
            slow_count = min(count, WARMUP + max(10, queries // 3))
            rows["Qdrant payload filter"] = latency_ms(store, excluding_images(slow_count), dim, rng)
        close_stores()
    rows.update(distance_rows(items, count, rng))
    return {"n": n, "ingest_s": ingest_s, "reopen_s": reopen_s, "disk_mb": disk_mb, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=50, help="timed queries per row (after 3 warm-ups)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--default-journal-points", type=int, default=300)
    args = parser.parse_args()

    sample = make_items(args.default_journal_points, args.dim, np.random.default_rng(args.seed))
    tuned_rate = ingest_rate(sample)
    with mock.patch.object(SimilarityStore, "_relax_embedded_fsync", lambda store, collection: None):
        default_rate = ingest_rate(sample)
    results = [bench_size(n, args.dim, args.queries, args.seed) for n in args.sizes]

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nembedded Qdrant (path mode), dim {args.dim}, {os.cpu_count()} CPUs, load average at the end {load}\n")
    print(f"ingest of {len(sample)} points: store's WAL tuning {tuned_rate:,.0f} points/s, qdrant-client default")
    print(f"journal {default_rate:,.0f} points/s ({tuned_rate / default_rate:.0f}× faster)\n")
    print("| N | ingest points/s | ingest s | reopen s | disk MB |")
    print("|---|---|---|---|---|")
    for result in results:
        rate = result["n"] / result["ingest_s"]
        print(
            f"| {result['n']:,} | {rate:,.0f} | {result['ingest_s']:.1f} | {result['reopen_s']:.2f} "
            f"| {result['disk_mb']:.0f} |"
        )
    print(f"\nquery latency, k = 5, one partition of N points, {args.queries} queries per row\n")
    print("| N | query | p50 ms | p95 ms | p95 / exclude-own-image p95 |")
    print("|---|---|---|---|---|")
    for result in results:
        rows = result["rows"]
        reference_p95 = rows["exclude own image"][1]
        for name, (p50, p95) in rows.items():
            print(f"| {result['n']:,} | {name} | {p50:.1f} | {p95:.1f} | {p95 / reference_p95:.1f}× |")


if __name__ == "__main__":
    main()
