"""Defects confirmed in production, added to the similar-defect library so that the next similar part finds them.

An engineer confirms a recorded inspection (:class:`services.records.record.InspectionRecord`) as a defect of some
type. Its stored image (the records' content-addressed :class:`services.records.image_store.ImageStore`) is scored
again by the run that judged it, its regions are found again at the record's pixel threshold, and each becomes a
point of that run's library with the same embedder and payload fields as the run's own known defects
(:func:`services.similarity.index.index_run`), plus ``source="production"`` and the record's id. The point ids
derive from the record, so confirming it twice writes the same points; :func:`remove_confirmed_defect` is the undo.

The anomaly map of each confirmed record is kept beside the records (``<records>/cases/<record id>.npz``, float16,
with the pixel threshold), so a production case is drawn and searched from like a test case
(:class:`services.similarity.cases.CaseLibrary`) without scoring its image again, and carried to a version learned
from its run (:func:`carry_production_cases`), in that version's own feature space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from services.data.images import load_image
from services.inference.detector import Detector
from services.postprocessing.regions import DefectRegion
from services.records.image_store import ImageStore
from services.records.record import InspectionRecord, RegionSummary
from services.registry.runs import Run, load_run
from services.settings import Settings
from services.similarity.crop_embedder import Embedder
from services.similarity.index import regions_of
from services.similarity.residual_embedder import region_embedder_for
from services.similarity.store import PRODUCTION, IndexedItem, ItemPayload, SearchFilters, SimilarityStore

CASES = "cases"
MAX_DEFECT_TYPE_CHARS = 64
MIN_REGION_IOU = 0.5
"""A recorded region is found again where a region of the re-scored map overlaps its box at least this much."""
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
"""Record ids are client-made UUIDs; only such names become file names."""


class ProductionCaseError(ValueError):
    """A record that cannot be added to the library; the message names the record and the rule."""


@dataclass(frozen=True)
class ProductionCase:
    """What confirming one record wrote: its points in the run's library."""

    record_id: str
    run: str
    defect_type: str
    regions: int
    point_ids: tuple[str, ...]


@dataclass(frozen=True)
class CaseMap:
    """A confirmed record's anomaly map (normalised, at the image's resolution) and its pixel threshold."""

    anomaly_map: np.ndarray
    threshold: float

    def regions(self) -> list[DefectRegion]:
        """Its regions as the library holds them: above the threshold, else the area around the peak."""
        return regions_of(self.anomaly_map, self.threshold)


def case_map_path(settings: Settings, record_id: str) -> Path:
    """Where a confirmed record's :class:`CaseMap` is kept."""
    if not RECORD_ID.fullmatch(record_id):
        raise ProductionCaseError(f"record id {record_id!r} is not accepted: letters, digits and '-', as a UUID")
    return settings.records_dir / CASES / f"{record_id}.npz"


def write_case_map(path: Path, case: CaseMap) -> None:
    """Keep ``case`` (map as float16, compressed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, anomaly_map=case.anomaly_map.astype(np.float16), threshold=np.float32(case.threshold))


def read_case_map(path: Path) -> CaseMap:
    """A kept :class:`CaseMap` (raises ``FileNotFoundError`` where the record was never confirmed or was undone)."""
    with np.load(path, allow_pickle=False) as data:
        return CaseMap(data["anomaly_map"].astype(np.float32), float(data["threshold"]))


def check_defect_type(defect_type: str) -> str:
    """The defect type, trimmed; refused when empty, longer than 64 characters or holding a control character."""
    text = defect_type.strip()
    if not text or len(text) > MAX_DEFECT_TYPE_CHARS or CONTROL_CHARACTERS.search(text):
        raise ProductionCaseError(
            f"defect type {defect_type!r} is not accepted: give 1 to {MAX_DEFECT_TYPE_CHARS} characters without "
            "line breaks or other control characters"
        )
    return text


def record_run(record: InspectionRecord, settings: Settings) -> Run:
    """The run that judged ``record``, as it was then: refused when gone from the registry or retrained since."""
    path = Path(record.run_id)
    if not path.is_absolute() and ".." in path.parts:
        raise ProductionCaseError(f"record {record.id}: run id {record.run_id!r} leaves the registry ('..')")
    try:
        run = load_run(path if path.is_absolute() else settings.registry_dir / path)
    except (ValueError, OSError) as exc:
        message = f"record {record.id}: its run {record.run_id} is not in the registry ({exc})"
        raise ProductionCaseError(message) from exc
    if record.checkpoint_sha256 and run.model_sha256() != record.checkpoint_sha256:
        raise ProductionCaseError(
            f"record {record.id}: run {record.run_id} was retrained since it judged the image (checkpoint "
            f"{(run.model_sha256() or 'missing')[:12]}, recorded {record.checkpoint_sha256[:12]}); its regions "
            "cannot be found again"
        )
    return run


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two ``(x, y, width, height)`` boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(width, 0) * max(height, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def matching_regions(record: InspectionRecord, found: list[DefectRegion]) -> list[DefectRegion]:
    """The regions of the re-scored map that the record's regions are (each the best overlap, at least
    ``MIN_REGION_IOU``); all of ``found`` for a record without regions (the area around the peak)."""
    if not record.regions:
        return found
    matched: dict[int, DefectRegion] = {}
    for recorded in record.regions:
        best = max(found, key=lambda region: box_iou(region.bbox, recorded.bbox), default=None)
        if best is None or box_iou(best.bbox, recorded.bbox) < MIN_REGION_IOU:
            raise ProductionCaseError(_lost_region(record, recorded))
        matched[best.id] = best
    return sorted(matched.values(), key=lambda region: region.id)


def _lost_region(record: InspectionRecord, region: RegionSummary) -> str:
    return (
        f"record {record.id}: its region at {region.bbox} is not found again when run {record.run_id} scores the "
        "stored image; it cannot be added to the library"
    )


def add_confirmed_defect(
    record: InspectionRecord,
    defect_type: str,
    *,
    settings: Settings,
    store: SimilarityStore,
    embedder: Embedder,
    detector: Detector | None = None,
) -> ProductionCase:
    """Add the regions of a record confirmed as ``defect_type`` to its run's library (and its image vector, as the
    run's own defect images have); idempotent. ``detector``: the record's run loaded already (default: on torch)."""
    defect_type = check_defect_type(defect_type)
    run = record_run(record, settings)
    images = ImageStore(settings.records_dir)
    image_path = images.path(record.image_sha256)
    if not image_path.is_file():
        raise ProductionCaseError(f"record {record.id}: its image {record.image_sha256[:12]} is not in the image store")
    image = load_image(image_path, name=record.image_name, max_pixels=settings.max_image_pixels)
    detector = detector or Detector(run, settings, device=embedder.device, backend="torch")
    prediction = detector.predict(image)
    case = CaseMap(prediction.anomaly_map.astype(np.float16).astype(np.float32), record.threshold_pixel)
    regions = matching_regions(record, case.regions())
    vectors = region_embedder_for(run, embedder).region_vectors(image.rgb, case.anomaly_map, regions)
    common = {
        "dataset": run.record.dataset,
        "category": run.record.category,
        "model": run.record.model,
        "run": run.record.run,
        "image_path": str(image_path),
        "split": "test",
        "defect_type": defect_type,
        "source": PRODUCTION,
        "record_id": record.id,
    }
    items = [
        IndexedItem(vector, ItemPayload(**common, kind="region", score=r.max_score, region_id=r.id, bbox=r.bbox))
        for r, vector in zip(regions, vectors, strict=True)
    ]
    items.append(IndexedItem(embedder.image_vector(image.rgb), ItemPayload(**common, kind="image", score=record.score)))
    write_case_map(case_map_path(settings, record.id), case)
    store.upsert(items)
    point_ids = tuple(item.payload.point_id for item in items)
    return ProductionCase(record.id, run.record.run, defect_type, len(regions), point_ids)


def remove_confirmed_defect(record_id: str, *, settings: Settings, store: SimilarityStore) -> int:
    """Undo :func:`add_confirmed_defect`: remove the record's points from every library and its kept map; returns
    how many points were removed (0 where it was not in the library)."""
    removed = store.delete(SearchFilters(source=PRODUCTION, record_id=record_id))
    case_map_path(settings, record_id).unlink(missing_ok=True)
    return removed


def carry_production_cases(
    source: Run, target: Run, *, settings: Settings, store: SimilarityStore, embedder: Embedder
) -> int:
    """Store the defects confirmed on ``source`` as ``target``'s too (a version learned from it), their region
    vectors computed again in ``target``'s feature space (its memory bank differs); returns how many points were
    written. Their record ids stay, so :func:`remove_confirmed_defect` removes them from both."""
    record = source.record
    filters = SearchFilters(record.dataset, record.category, record.model, record.run, source=PRODUCTION)
    confirmed = store.browse(filters, limit=max(1, store.count(filters)))
    regions = region_embedder_for(target, embedder)
    items = []
    for item in confirmed:
        payload = replace(item.payload, run=target.record.run)
        rgb = load_image(Path(payload.image_path), max_pixels=settings.max_image_pixels).rgb
        if payload.kind == "image":
            items.append(IndexedItem(embedder.image_vector(rgb), payload))
            continue
        case = read_case_map(case_map_path(settings, payload.record_id))
        region = next((region for region in case.regions() if region.id == payload.region_id), None)
        if region is None:
            raise ProductionCaseError(f"record {payload.record_id}: region {payload.region_id} is not in its kept map")
        items.append(IndexedItem(regions.region_vectors(rgb, case.anomaly_map, [region])[0], payload))
    return store.upsert(items)
