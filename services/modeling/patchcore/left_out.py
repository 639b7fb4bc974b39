"""PatchCore's normal images scored as new parts: against the memory bank without the patches of their look-alikes.

Leaving out only an image's own patches flatters it when several training images show the same part (crops, shots
moments apart): its twins stay in the bank, and a new part scores far higher. So the training images are split into
:data:`LEFT_OUT_GROUPS` groups of look-alikes (k-means on each image's patch-embedding mean and spread), and every
training image, and every held-out normal, is scored against the bank less the rows taken from its whole group: a
grouped k-fold, as cross-validation does for dependent samples, at the cost of one nearest-neighbour search per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from anomalib.models.image.patchcore.torch_model import PatchcoreModel
from sklearn.cluster import KMeans

LEFT_OUT_GROUPS = 5
"""Groups of look-alike training images (a grouped 5-fold); fewer images than this make each image its own group."""
KMEANS_RESTARTS = 10
FLAT_FEATURE = 1e-3
"""A descriptor feature spreading less than this share of the widest one is rounding noise: it is not blown up."""


class LeftOutError(ValueError):
    """The training embeddings cannot be split into images and groups."""


@dataclass(frozen=True)
class LeftOutScores:
    """Per image: its image score and the peak of its anomaly map, scored without its group's bank rows."""

    image: tuple[float, ...]
    pixel_peak: tuple[float, ...]


@dataclass(frozen=True)
class BankGroups:
    """Which group each memory-bank row came from, and the standardised descriptor centroids that place a new image."""

    image_groups: tuple[int, ...]
    """The group of each training image, in training order."""
    row_groups: torch.Tensor
    centroids: torch.Tensor
    centre: torch.Tensor
    scale: torch.Tensor

    def group_of(self, patches: torch.Tensor) -> int:
        """The group whose centroid lies nearest to an image's descriptor (its patches as rows)."""
        standardised = (patch_descriptor(patches) - self.centre) / self.scale
        return int(torch.cdist(standardised[None], self.centroids)[0].argmin())


def patch_descriptor(patches: torch.Tensor) -> torch.Tensor:
    """An image's descriptor: the mean and standard deviation of its patch embeddings, feature by feature."""
    return torch.cat([patches.mean(dim=0), patches.std(dim=0)])


def split_images(embedding: torch.Tensor, n_images: int) -> tuple[torch.Tensor, int]:
    """The training patches as (images, patches, features), and the side of each image's square feature map."""
    per_image = embedding.shape[0] // n_images if n_images > 0 else 0
    side = math.isqrt(per_image)
    if n_images < 1 or side * side != per_image or per_image * n_images != embedding.shape[0]:
        raise LeftOutError(f"{embedding.shape[0]} patches do not split into {n_images} square feature maps")
    return embedding.reshape(n_images, per_image, embedding.shape[-1]), side


def group_images(
    per_image: torch.Tensor, n_groups: int, seed: int
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each training image's group (k-means on standardised descriptors), the centroids, and the descriptors' centre
    and scale; with no more images than groups, each image is its own group."""
    descriptors = torch.stack([patch_descriptor(patches) for patches in per_image]).double()
    spread = descriptors.std(dim=0)
    centre, scale = descriptors.mean(dim=0), spread.clamp_min(float(spread.max()) * FLAT_FEATURE + 1e-12)
    standardised = ((descriptors - centre) / scale).cpu().numpy()
    count = min(n_groups, len(per_image))
    if count == len(per_image):
        labels, centroids = np.arange(count), standardised
    else:
        kmeans = KMeans(n_clusters=count, n_init=KMEANS_RESTARTS, random_state=seed).fit(standardised)
        labels, centroids = kmeans.labels_, kmeans.cluster_centers_
    dtype, device = per_image.dtype, per_image.device
    return (
        labels,
        torch.as_tensor(centroids, dtype=dtype, device=device),
        centre.to(dtype=dtype, device=device),
        scale.to(dtype=dtype, device=device),
    )


def score_without(
    model: PatchcoreModel, patches: torch.Tensor, kept: torch.Tensor, side: int, input_size: tuple[int, int]
) -> tuple[float, float] | None:
    """anomalib's image score and map peak of one image against the bank rows ``kept``; ``None`` if none is kept."""
    if not bool(kept.any()):
        return None
    full_bank = model.memory_bank
    try:
        model.memory_bank = full_bank[kept]
        distances, locations = model.nearest_neighbors(patches, n_neighbors=1)
        score = float(model.compute_anomaly_score(distances[None], locations[None], patches)[0])
        peak = float(model.anomaly_map_generator(distances.reshape(1, 1, side, side), input_size).max())
    finally:
        model.memory_bank = full_bank
    return score, peak


def _collect(scored: Sequence[tuple[float, float] | None]) -> LeftOutScores:
    kept = [pair for pair in scored if pair is not None]
    return LeftOutScores(image=tuple(s for s, _ in kept), pixel_peak=tuple(p for _, p in kept))


@torch.no_grad()
def leave_group_out(
    model: PatchcoreModel,
    embedding: torch.Tensor,
    bank_rows: torch.Tensor,
    n_images: int,
    input_size: tuple[int, int],
    *,
    n_groups: int = LEFT_OUT_GROUPS,
    seed: int = 0,
) -> tuple[LeftOutScores, BankGroups]:
    """Score each training image against the memory bank less the rows taken from its group's images.

    ``embedding`` holds the training patches image after image (anomalib's order), ``bank_rows`` the rows the
    coreset kept. With ``n_groups`` at least the number of images this is leave-one-image-out.
    """
    per_image, side = split_images(embedding, n_images)
    image_groups, centroids, centre, scale = group_images(per_image, n_groups, seed)
    owner = bank_rows.to(embedding.device) // per_image.shape[1]
    row_groups = torch.as_tensor(image_groups, device=embedding.device)[owner]
    groups = BankGroups(tuple(map(int, image_groups)), row_groups, centroids, centre, scale)
    scored = [
        score_without(model, per_image[image], row_groups != int(image_groups[image]), side, input_size)
        for image in range(n_images)
    ]
    return _collect(scored), groups


@torch.no_grad()
def patch_embeddings(model: PatchcoreModel, inputs: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Pre-processed inputs' patch embeddings as (images, patches, features), computed as anomalib's forward does."""
    features = model.feature_extractor(inputs.type(model.memory_bank.dtype))
    pooled = {layer: model.feature_pooler(feature) for layer, feature in features.items()}
    embedding = model.generate_embedding(pooled)
    return split_images(model.reshape_embedding(embedding), len(inputs))


@torch.no_grad()
def score_out_of_group(
    model: PatchcoreModel, groups: BankGroups, inputs: torch.Tensor, batch_size: int = 8
) -> LeftOutScores:
    """Held-out normals (pre-processed inputs) scored against the bank less the rows of the group each falls in."""
    input_size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    scored = []
    for start in range(0, len(inputs), batch_size):
        per_image, side = patch_embeddings(model, inputs[start : start + batch_size])
        scored += [
            score_without(model, patches, groups.row_groups != groups.group_of(patches), side, input_size)
            for patches in per_image
        ]
    return _collect(scored)
