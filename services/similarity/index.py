"""Index a benchmark run's anomalous test images into the similarity store, and measure retrieval quality.

Regions come from the run's stored anomaly maps (``maps.npz``) at the calibrated threshold. An anomalous image
whose map stays under the threshold everywhere still gets one region: the connected area around its peak, above
``PEAK_FRACTION`` of the peak.

The library holds known defects: the regions that touch the image's ground-truth defect mask, each with the image's
defect type. A region that misses the mask is a false alarm on a defective part, not an example of its defect type,
so it is counted (:attr:`IndexReport.off_defect_regions`) but not indexed; nor are the regions of a defective image
without a mask, which nothing confirms. Retrieval figures
(:func:`evaluate_retrieval`) query each indexed region against the other images' regions; they also report
precision@5 when every predicted region of the defective test images asks, false alarms included (labelled with
their image's type), which is the figure of the earlier, all-regions library's protocol.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from services.data.datasets import mask_path_for, read_mask
from services.data.images import read_rgb
from services.postprocessing.regions import CALIBRATED_THRESHOLD, DefectRegion, extract_regions, region_mask
from services.postprocessing.visualization import resize_map
from services.registry import runs as registry
from services.registry.artefacts import read_scores
from services.registry.runs import Run
from services.similarity.crop_embedder import Embedder
from services.similarity.residual_embedder import region_embedder_for
from services.similarity.store import IndexedItem, ItemPayload, SearchFilters, SimilarityStore

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
        data = np.load(run.path / registry.MAPS, allow_pickle=False)
        return cls(image_paths=[str(p) for p in data["image_paths"]], maps=data["maps"], scores=data["scores"])


def regions_of(anomaly_map: np.ndarray, threshold: float = CALIBRATED_THRESHOLD) -> list[DefectRegion]:
    """Regions above ``threshold`` (default: the calibrated one), or else the area around the map's peak."""
    regions = extract_regions(anomaly_map, anomaly_map > threshold)
    if regions:
        return regions
    peak = float(anomaly_map.max())
    return extract_regions(anomaly_map, anomaly_map >= PEAK_FRACTION * peak, min_area_px=1)[:1]


@dataclass(frozen=True)
class DefectImage:
    """One anomalous test image of a run: pixels, stored map at the image's size, regions and which touch the defect."""

    path: Path
    defect_type: str
    score: float  # the image's stored anomaly score
    rgb: np.ndarray
    anomaly_map: np.ndarray
    regions: list[DefectRegion]
    on_defect: list[bool]  # per region: it touches the ground-truth mask


def touches(region: DefectRegion, truth: np.ndarray) -> bool:
    """Whether any pixel of ``region`` lies on the ground-truth mask ``truth`` (same size as the region's image)."""
    return bool((region_mask(region, *truth.shape) & truth).any())


def defect_images(run: Run) -> list[DefectImage]:
    """The run's anomalous test images with their regions, in stored order; a region is a known defect only where it
    touches the image's ground-truth mask (an image without a mask confirms none)."""
    record = run.record
    root = Path(record.dataset_root)
    scored = {image.image_path: image for image in read_scores(run)}
    stored = StoredMaps.of(run)
    images = []
    for relative, small_map, score in zip(stored.image_paths, stored.maps, stored.scores, strict=True):
        image = scored[relative]
        if not image.is_anomalous:
            continue
        rgb = read_rgb(root / relative)
        anomaly_map = resize_map(small_map.astype(np.float32), *rgb.shape[:2])
        if image.mask_path is None:  # written before predictions.csv recorded masks: MVTec layout
            mask_path: Path | None = mask_path_for(root, record.category, image.defect_type, Path(relative))
        else:
            mask_path = root / image.mask_path if image.mask_path else None
        truth = read_mask(mask_path) if mask_path is not None else None
        regions = regions_of(anomaly_map)
        on_defect = [truth is not None and touches(region, truth) for region in regions]
        defect = image.defect_type
        images.append(DefectImage(root / relative, defect, float(score), rgb, anomaly_map, regions, on_defect))
    return images


@dataclass(frozen=True)
class IndexReport:
    """What indexing a run wrote."""

    run: str
    images: int
    regions: int
    off_defect_regions: int  # found on defective images but off their ground-truth mask: not indexed


@dataclass(frozen=True)
class EmbeddedImage:
    """A defect image with the vector of each of its regions and of the whole image."""

    image: DefectImage
    region_vectors: list[np.ndarray]  # one per region of ``image.regions``
    image_vector: np.ndarray


def embed_defect_images(run: Run, embedder: Embedder) -> list[EmbeddedImage]:
    """Vectors for every region of the run's defect images
    (:func:`services.similarity.residual_embedder.region_embedder_for`)
    and for each image (``embedder``): computed once, shared by :func:`index_run` and :func:`evaluate_retrieval`."""
    region_embedder = region_embedder_for(run, embedder)
    return [
        EmbeddedImage(
            image=image,
            region_vectors=list(region_embedder.region_vectors(image.rgb, image.anomaly_map, image.regions)),
            image_vector=embedder.image_vector(image.rgb),
        )
        for image in defect_images(run)
    ]


def index_run(
    run: Run, store: SimilarityStore, embedder: Embedder, embedded: list[EmbeddedImage] | None = None
) -> IndexReport:
    """Replace the run's test points by the vectors of its anomalous test images and their on-defect regions
    (idempotent).

    The run's earlier test points are deleted first: a run retrained into the same folder may find other regions.
    Defects confirmed in production (:mod:`services.similarity.production`) are kept: they come from review decisions,
    which re-indexing cannot redo.
    ``embedded``: the run's :func:`embed_defect_images`, when already computed.
    """
    embedded = embed_defect_images(run, embedder) if embedded is None else embedded
    record = run.record
    common = {"dataset": record.dataset, "category": record.category, "model": record.model, "run": record.run}
    items: list[IndexedItem] = []
    for entry in embedded:
        image = entry.image
        of_image = {**common, "image_path": str(image.path), "split": "test", "defect_type": image.defect_type}
        for region, vector, on in zip(image.regions, entry.region_vectors, image.on_defect, strict=True):
            if on:
                payload = ItemPayload(
                    **of_image, kind="region", score=region.max_score, region_id=region.id, bbox=region.bbox
                )
                items.append(IndexedItem(vector=vector, payload=payload))
        image_payload = ItemPayload(**of_image, kind="image", score=image.score)
        items.append(IndexedItem(vector=entry.image_vector, payload=image_payload))
    tested = SearchFilters(record.dataset, record.category, record.model, record.run, source="test")
    store.delete(tested)
    store.upsert(items)
    regions = sum(i.payload.kind == "region" for i in items)
    found = sum(len(entry.image.regions) for entry in embedded)
    return IndexReport(run=str(run.path), images=len(embedded), regions=regions, off_defect_regions=found - regions)


@dataclass(frozen=True)
class RetrievalMetrics:
    """Leave-one-image-out defect-type retrieval over a run's indexed regions."""

    queries: int  # indexed (on-defect) regions
    precision_at_1: float
    precision_at_5: float
    mean_average_precision: float
    all_region_queries: int  # every predicted region of the defective test images, false alarms included
    all_region_precision_at_5: float


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def precision_at(relevant: np.ndarray, k: int) -> float:
    """Share of relevant hits among the first ``k`` of a ranking (all of it when it is shorter)."""
    return float(relevant[:k].mean())


def average_precision(relevant: np.ndarray) -> float:
    """Mean of the precision at the rank of each relevant hit of a full ranking; 0 when none is relevant."""
    if not relevant.any():
        return 0.0
    hits = np.cumsum(relevant)
    ranks = np.arange(1, len(relevant) + 1)
    return float((hits / ranks)[relevant].mean())


def evaluate_retrieval(
    run: Run, store: SimilarityStore, embedder: Embedder, embedded: list[EmbeddedImage] | None = None
) -> RetrievalMetrics:
    """For every region of every defective test image, rank the indexed regions of other images by similarity and
    score the defect-type match; P@1, P@5 and mAP over the indexed regions, P@5 also over all regions.
    ``embedded``: the run's :func:`embed_defect_images`, when already computed."""
    embedded = embed_defect_images(run, embedder) if embedded is None else embedded
    record = run.record
    filters = SearchFilters(
        dataset=record.dataset, model=record.model, category=record.category, run=record.run, kind="region"
    )
    total = store.count(filters)
    p1, p5, aps, all_p5 = [], [], [], []
    for entry in embedded:
        image = entry.image
        query_filters = SearchFilters(**{**asdict(filters), "exclude_image_path": str(image.path)})
        for vector, on_defect in zip(entry.region_vectors, image.on_defect, strict=True):
            ranking = store.search(vector, k=total, filters=query_filters)
            relevant = np.array([n.payload.defect_type == image.defect_type for n in ranking], dtype=bool)
            if not len(relevant):
                continue
            top = precision_at(relevant, RETRIEVAL_K)
            all_p5.append(top)
            if on_defect:
                p1.append(precision_at(relevant, 1))
                p5.append(top)
                aps.append(average_precision(relevant))
    return RetrievalMetrics(len(p1), _mean(p1), _mean(p5), _mean(aps), len(all_p5), _mean(all_p5))


def record_retrieval(run: Run, metrics: RetrievalMetrics) -> None:
    """Store the retrieval figures in the run's ``metrics.json`` and refresh that file's manifest entry."""
    path = run.path / registry.METRICS
    data = json.loads(path.read_text())
    data["retrieval"] = asdict(metrics)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))
    registry.refresh_manifest(run.path, [registry.METRICS])
