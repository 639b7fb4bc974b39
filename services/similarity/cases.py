"""Similar defect cases, ready to show: a region's nearest indexed neighbours, their defect-type vote, and each case
drawn from its test image under the run's stored heatmap.

Cases are the regions :func:`services.similarity.index.index_run` stored: their vectors live in the similarity store,
their pixels in the dataset and their maps in the run's ``maps.npz``. Defects confirmed in production
(:mod:`services.similarity.production`) are cases too: their pixels in the records' image store, their maps beside
the records. A stored case's query vector is recomputed from those (the embedder is deterministic), so the store
never has to hand vectors back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from services.data.images import load_image
from services.modeling.torch_threads import one_torch_thread
from services.postprocessing.regions import CALIBRATED_THRESHOLD, DefectRegion, region_mask
from services.postprocessing.visualization import draw_contours, overlay, resize_map
from services.registry.runs import Run
from services.settings import Settings
from services.similarity.crop_embedder import Embedder, crop_region
from services.similarity.index import StoredMaps, regions_of
from services.similarity.production import CaseMap, case_map_path, read_case_map
from services.similarity.residual_embedder import region_embedder_for
from services.similarity.store import (
    PRODUCTION,
    DefectVote,
    ItemPayload,
    SearchFilters,
    SimilarityStore,
    StoredItem,
    vote_defect_type,
)

NEIGHBOURS_K = 5
THUMBNAIL_PX = 160
"""Longest side of a drawn case."""


class CaseLookupError(LookupError):
    """A stored case no longer matches its run (maps or dataset changed since indexing): re-index the run."""


@dataclass(frozen=True)
class CaseThumbnail:
    """A context crop around a region: the image, and the same crop under the heatmap with the region outlined."""

    image: np.ndarray
    heatmap: np.ndarray


@dataclass(frozen=True)
class SimilarCase:
    """One neighbour and its drawing."""

    neighbour_id: str
    similarity: float
    payload: ItemPayload
    thumbnail: CaseThumbnail


@dataclass(frozen=True)
class SimilarCases:
    """A query's neighbours, most similar first, and the defect type most of them carry."""

    cases: tuple[SimilarCase, ...]
    vote: DefectVote


def draw_case(rgb: np.ndarray, anomaly_map: np.ndarray, region: DefectRegion) -> CaseThumbnail:
    """The context crop around ``region`` with its outline, scaled to ``THUMBNAIL_PX``."""
    mask = region_mask(region, *rgb.shape[:2])
    crop = crop_region(rgb, region, mask)
    heat = crop_region(overlay(rgb, anomaly_map), region, mask).rgb
    height, width = crop.rgb.shape[:2]
    scale = THUMBNAIL_PX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = cv2.resize(crop.rgb, size, interpolation=cv2.INTER_LINEAR)
    heatmap = draw_contours(cv2.resize(heat, size, interpolation=cv2.INTER_LINEAR), crop.mask)
    return CaseThumbnail(image=image, heatmap=heatmap)


def region_filters(run: Run, exclude_image_path: str | None = None) -> SearchFilters:
    """The region vectors of ``run`` (the only ones comparable with its queries), optionally without one image."""
    record = run.record
    return SearchFilters(
        dataset=record.dataset,
        model=record.model,
        category=record.category,
        run=record.run,
        kind="region",
        exclude_image_path=exclude_image_path,
    )


class CaseLibrary:
    """The indexed cases of one run: finds a region's neighbours among them and draws any of them."""

    def __init__(self, run: Run, store: SimilarityStore, embedder: Embedder, settings: Settings) -> None:
        self.run = run
        self.store = store
        self.embedder = region_embedder_for(run, embedder)
        self.settings = settings
        self.max_pixels = settings.max_image_pixels
        self.maps = StoredMaps.of(run)
        self._map_index = {path: i for i, path in enumerate(self.maps.image_paths)}
        self._thumbnails: dict[tuple[str, int], CaseThumbnail] = {}

    def case_pixels(self, payload: ItemPayload) -> tuple[np.ndarray, np.ndarray]:
        """The case's image (RGB) and its stored anomaly map at the image's resolution."""
        if payload.source == PRODUCTION:
            return self._production_pixels(payload)
        try:
            relative = str(Path(payload.image_path).relative_to(self.run.record.dataset_root))
            small_map = self.maps.maps[self._map_index[relative]]
        except (ValueError, KeyError) as exc:
            raise CaseLookupError(
                f"{payload.image_path} is not among the stored maps of run {self.run.record.run}; re-index the run"
            ) from exc
        rgb = load_image(Path(payload.image_path), max_pixels=self.max_pixels).rgb
        return rgb, resize_map(small_map.astype(np.float32), *rgb.shape[:2])

    def _production_case(self, payload: ItemPayload) -> CaseMap:
        """The kept map of a confirmed record."""
        try:
            return read_case_map(case_map_path(self.settings, payload.record_id))
        except FileNotFoundError as exc:
            raise CaseLookupError(
                f"the map of record {payload.record_id} is gone: confirm the record again to restore its case"
            ) from exc

    def _production_pixels(self, payload: ItemPayload) -> tuple[np.ndarray, np.ndarray]:
        """A confirmed record's image from the image store and its kept map."""
        rgb = load_image(Path(payload.image_path), max_pixels=self.max_pixels).rgb
        return rgb, self._production_case(payload).anomaly_map

    def case_region(self, payload: ItemPayload, anomaly_map: np.ndarray) -> DefectRegion:
        """The indexed region of a stored case, recomputed from its map as indexing (or confirming) did."""
        production = payload.source == PRODUCTION
        threshold = self._production_case(payload).threshold if production else CALIBRATED_THRESHOLD
        for region in regions_of(anomaly_map, threshold):
            if region.id == payload.region_id:
                return region
        raise CaseLookupError(
            f"region {payload.region_id} of {payload.image_path} is no longer in its stored map; re-index the run"
        )

    def thumbnail(self, payload: ItemPayload) -> CaseThumbnail:
        """The drawing of a stored case (memoised)."""
        key = (payload.image_path, payload.region_id)
        if key not in self._thumbnails:
            rgb, anomaly_map = self.case_pixels(payload)
            self._thumbnails[key] = draw_case(rgb, anomaly_map, self.case_region(payload, anomaly_map))
        return self._thumbnails[key]

    def similar_to_region(
        self,
        rgb: np.ndarray,
        anomaly_map: np.ndarray,
        region: DefectRegion,
        k: int = NEIGHBOURS_K,
        exclude_image_path: str | None = None,
    ) -> SimilarCases:
        """The ``k`` indexed regions of this run most like ``region`` of an image scored by the same run (one torch
        thread, as the Detector serves)."""
        with one_torch_thread():
            vector = self.embedder.region_vectors(rgb, anomaly_map, [region])[0]
        hits = self.store.search(vector, k=k, filters=region_filters(self.run, exclude_image_path))
        cases = tuple(SimilarCase(hit.id, hit.similarity, hit.payload, self.thumbnail(hit.payload)) for hit in hits)
        return SimilarCases(cases=cases, vote=vote_defect_type(hits))

    def similar_to_case(self, payload: ItemPayload, k: int = NEIGHBOURS_K) -> SimilarCases:
        """The ``k`` indexed regions most like a stored case, from other images than its own."""
        rgb, anomaly_map = self.case_pixels(payload)
        region = self.case_region(payload, anomaly_map)
        return self.similar_to_region(rgb, anomaly_map, region, k=k, exclude_image_path=payload.image_path)

    def cases(self, defect_type: str | None = None) -> list[StoredItem]:
        """Every indexed region of this run (optionally of one defect type), highest anomaly score first."""
        filters = replace(region_filters(self.run), defect_type=defect_type)
        items = self.store.browse(filters, limit=max(1, self.store.count(filters)))
        return sorted(items, key=lambda item: -item.payload.score)

    def indexed_regions(self) -> int:
        """How many region vectors of this run the store holds (0: the run was never indexed)."""
        return self.store.count(region_filters(self.run))
