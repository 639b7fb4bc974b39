"""Region vectors in a PatchCore run's own feature space: how the region differs from the nearest normal patches.

For each patch of the image, the run's model gives its embedding (backbone → 3×3 pooling → concatenated layers,
as PatchCore scores it) and its nearest memory-bank patch; the residual is their difference. A region's vector is
the mean residual over the region's core (:func:`services.similarity.crop_embedder.region_core`, area-resized to
the patch grid), L2-normalised; its size is the run's embedding width (168 for Lite2 ``blocks.2`` + ``blocks.4``).
Image vectors stay those of the ImageNet crop embedder (:class:`services.similarity.crop_embedder.Embedder`).

Why: on the demo PatchCore runs these vectors retrieve a region's defect type far more often than the crop
embedder's (leave-one-image-out precision@5, docs/results.md). Other models keep the crop embedder.
"""

from __future__ import annotations

import threading
from typing import Protocol

import cv2
import numpy as np
import torch

from services.modeling.factory import load_model
from services.modeling.model_table import model_spec
from services.modeling.scoring import rgb_inputs
from services.postprocessing.regions import DefectRegion, region_mask
from services.registry.integrity import verify_model
from services.registry.runs import Run
from services.similarity.crop_embedder import Embedder, region_core, unit_length


class RegionEmbedder(Protocol):
    """What indexing, retrieval evaluation and case search need: region vectors and an image vector."""

    def region_vectors(self, rgb: np.ndarray, anomaly_map: np.ndarray, regions: list[DefectRegion]) -> np.ndarray:
        """(len(regions), dim) unit vectors for regions of one image (map at the image's resolution)."""
        ...

    def image_vector(self, rgb: np.ndarray) -> np.ndarray:
        """(dim,) unit vector of the whole image."""
        ...


class PatchcoreResidualEmbedder:
    """Region vectors from a PatchCore run's embeddings and memory bank (loaded once, thread-safe)."""

    def __init__(self, run: Run, images: Embedder) -> None:
        self.images = images
        verify_model(run)
        self.module = load_model(run.record.model, run.checkpoint, images.device)
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """Length of a region vector: the width of the run's memory bank."""
        return int(self.module.model.memory_bank.shape[1])

    @torch.inference_mode()
    def _patches(self, rgb: np.ndarray) -> torch.Tensor:
        """(h, w, dim) embedding of each patch of the image, as PatchCore scores it."""
        model = self.module.model
        inputs = rgb_inputs(self.module, [rgb]).to(self.images.device)
        features = {name: model.feature_pooler(f) for name, f in model.feature_extractor(inputs).items()}
        return model.generate_embedding(features)[0].permute(1, 2, 0)

    @torch.inference_mode()
    def _residuals_at(self, patches: torch.Tensor, where: np.ndarray) -> np.ndarray:
        """(h, w, dim) residuals of the patches where ``where`` (h, w) holds, zero elsewhere: a region's vector needs
        only its own patches, so the nearest-bank search skips the others."""
        model = self.module.model
        flat = patches.reshape(-1, patches.shape[-1])
        chosen = torch.from_numpy(np.flatnonzero(where)).to(flat.device)
        residual = torch.zeros_like(flat)
        if len(chosen):
            _, nearest = model.nearest_neighbors(flat[chosen], n_neighbors=1)
            residual[chosen] = flat[chosen] - model.memory_bank[nearest.reshape(-1)]
        return residual.reshape(patches.shape).cpu().numpy()

    def residuals(self, rgb: np.ndarray) -> np.ndarray:
        """(h, w, dim) residual of each patch's embedding to its nearest memory-bank patch."""
        with self._lock:
            patches = self._patches(rgb)
            return self._residuals_at(patches, np.ones(patches.shape[:2], bool))

    def region_vectors(self, rgb: np.ndarray, anomaly_map: np.ndarray, regions: list[DefectRegion]) -> np.ndarray:
        """(len(regions), dim) unit vectors: the mean residual over each region's core."""
        if not regions:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            patches = self._patches(rgb)
            height, width = patches.shape[:2]
            weights = []
            for region in regions:
                core = region_mask(region_core(anomaly_map, region), *anomaly_map.shape[:2]).astype(np.float32)
                grid = cv2.resize(core, (width, height), interpolation=cv2.INTER_AREA)
                weights.append(grid if grid.sum() > 0 else np.ones_like(grid))  # as the crop embedder's guard
            residuals = self._residuals_at(patches, np.any([grid > 0 for grid in weights], axis=0))
        means = ((residuals * grid[..., None]).sum((0, 1)) / grid.sum() for grid in weights)
        return np.stack([unit_length(mean.astype(np.float32)) for mean in means])

    def image_vector(self, rgb: np.ndarray) -> np.ndarray:
        """The crop embedder's image vector."""
        return self.images.image_vector(rgb)


def region_embedder_for(run: Run, images: Embedder) -> RegionEmbedder:
    """The run's region embedder: residuals in its own feature space where the model table says so (PatchCore), the
    crop embedder otherwise (and for a run imported as an OpenVINO IR, which has no feature space to read)."""
    if model_spec(run.record.model).embedder == "residual" and run.checkpoint.is_file():
        return PatchcoreResidualEmbedder(run, images)
    return images
