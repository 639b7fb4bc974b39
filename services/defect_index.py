"""Index a benchmark run's anomalous test images into the similarity store, and measure retrieval quality.

Regions come from the run's stored anomaly maps (``maps.npz``) at the calibrated threshold. An anomalous image
whose map stays under the threshold everywhere still gets one region: the connected area around its peak, above
``PEAK_FRACTION`` of the peak. Each region gets the image's ground-truth defect type.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from services import registry
from services.embeddings import Embedder
from services.regions import CALIBRATED_THRESHOLD, DefectRegion, extract_regions
from services.registry import Run
from services.residual_embeddings import region_embedder_for
from services.similarity import IndexedItem, ItemPayload, SearchFilters, SimilarityStore
from services.visualization import resize_map

PEAK_FRACTION = 0.8
RETRIEVAL_K = 5


@dataclass(frozen=True)
class StoredMaps:
    """A run's test maps as written by training (normalised, model resolution)."""

    image_paths: list[str]  # relative to the dataset root
    maps: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(cls, run: Run) -> StoredMaps:
        """Read ``maps.npz``."""
        data = np.load(run.path / registry.MAPS)
        return cls(image_paths=[str(p) for p in data["image_paths"]], maps=data["maps"], scores=data["scores"])


def defect_type_of(relative_path: str) -> str:
    """``<category>/test/<defect>/<file>`` → ``<defect>``."""
    return Path(relative_path).parts[-2]


def regions_of(anomaly_map: np.ndarray) -> list[DefectRegion]:
    """Regions above the calibrated threshold, or else the area around the map's peak."""
    regions = extract_regions(anomaly_map, anomaly_map > CALIBRATED_THRESHOLD)
    if regions:
        return regions
    peak = float(anomaly_map.max())
    return extract_regions(anomaly_map, anomaly_map >= PEAK_FRACTION * peak, min_area_px=1)[:1]


@dataclass(frozen=True)
class IndexReport:
    """What indexing a run wrote."""

    run: str
    images: int
    regions: int


def index_run(run: Run, store: SimilarityStore, embedder: Embedder) -> IndexReport:
    """Replace the run's points by region and image vectors of its anomalous test images (idempotent).

    The run's earlier points are deleted first: a run retrained into the same folder may find other regions. Region
    vectors come from :func:`services.residual_embeddings.region_embedder_for`; image vectors from ``embedder``.
    """
    region_embedder = region_embedder_for(run, embedder)
    record = run.record
    stored = StoredMaps.of(run)
    root = Path(record.dataset_root)
    items: list[IndexedItem] = []
    images = 0
    for relative, small_map, score in zip(stored.image_paths, stored.maps, stored.scores, strict=True):
        defect = defect_type_of(relative)
        if defect == "good":
            continue
        images += 1
        rgb = np.asarray(Image.open(root / relative).convert("RGB"))
        anomaly_map = resize_map(small_map.astype(np.float32), *rgb.shape[:2])
        regions = regions_of(anomaly_map)
        common = {"dataset": record.dataset, "category": record.category, "model": record.model, "run": record.run}
        path = str(root / relative)
        for region, vector in zip(regions, region_embedder.region_vectors(rgb, anomaly_map, regions), strict=True):
            payload = ItemPayload(
                **common,
                kind="region",
                image_path=path,
                split="test",
                score=region.max_score,
                defect_type=defect,
                region_id=region.id,
                bbox=region.bbox,
            )
            items.append(IndexedItem(vector=vector, payload=payload))
        image_payload = ItemPayload(
            **common, kind="image", image_path=path, split="test", score=float(score), defect_type=defect
        )
        items.append(IndexedItem(vector=embedder.image_vector(rgb), payload=image_payload))
    store.delete_run(record.dataset, record.model, record.category, record.run)
    store.upsert(items)
    return IndexReport(run=str(run.path), images=images, regions=sum(i.payload.kind == "region" for i in items))


@dataclass(frozen=True)
class RetrievalMetrics:
    """Leave-one-image-out defect-type retrieval over a run's indexed regions."""

    queries: int
    precision_at_1: float
    precision_at_5: float
    mean_average_precision: float


def _average_precision(relevant: np.ndarray) -> float:
    if not relevant.any():
        return 0.0
    hits = np.cumsum(relevant)
    ranks = np.arange(1, len(relevant) + 1)
    return float((hits / ranks)[relevant].mean())


def evaluate_retrieval(run: Run, store: SimilarityStore, embedder: Embedder) -> RetrievalMetrics:
    """For every indexed region, rank all regions of other images of the run and score the defect-type match."""
    region_embedder = region_embedder_for(run, embedder)
    record = run.record
    filters = SearchFilters(
        dataset=record.dataset, model=record.model, category=record.category, run=record.run, kind="region"
    )
    total = store.count(filters)
    stored = StoredMaps.of(run)
    root = Path(record.dataset_root)
    p1, p5, aps = [], [], []
    for relative, small_map in zip(stored.image_paths, stored.maps, strict=True):
        defect = defect_type_of(relative)
        if defect == "good":
            continue
        rgb = np.asarray(Image.open(root / relative).convert("RGB"))
        anomaly_map = resize_map(small_map.astype(np.float32), *rgb.shape[:2])
        regions = regions_of(anomaly_map)
        query_filters = SearchFilters(**{**asdict(filters), "exclude_image_path": str(root / relative)})
        for vector in region_embedder.region_vectors(rgb, anomaly_map, regions):
            ranking = store.search(vector, k=total, filters=query_filters)
            relevant = np.array([n.payload.defect_type == defect for n in ranking], dtype=bool)
            if not len(relevant):
                continue
            p1.append(float(relevant[0]))
            p5.append(float(relevant[:RETRIEVAL_K].mean()))
            aps.append(_average_precision(relevant))
    if not p1:
        return RetrievalMetrics(0, float("nan"), float("nan"), float("nan"))
    return RetrievalMetrics(len(p1), float(np.mean(p1)), float(np.mean(p5)), float(np.mean(aps)))


def record_retrieval(run: Run, metrics: RetrievalMetrics) -> None:
    """Store the retrieval figures in the run's ``metrics.json`` and refresh its manifest."""
    path = run.path / registry.METRICS
    data = json.loads(path.read_text())
    data["retrieval"] = asdict(metrics)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    registry.write_manifest(run.path)
