"""Growing a fitted PatchCore's memory bank with the patches of images known to be normal, without retraining.

PatchCore scores a patch by its distance to the nearest memory-bank row, so a normal image judged NG (a false alarm)
is taught by adding its patches to the bank. ``all`` adds every patch of the image. ``coreset`` adds as many rows as a
training image contributes on average (the run's coreset ratio times its patches), chosen by k-center greedy
continued from the bank: each next row is the image's patch farthest from the bank and from the rows already chosen,
as a joint coreset of the training images and this one would choose them. ``benchmarks/bench_false_alarm_learning.py``
measures both (docs/results.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from anomalib.models.image.patchcore.torch_model import PatchcoreModel

from services.modeling.patchcore.left_out import patch_embeddings

PatchChoice = Literal["coreset", "all"]
PATCH_CHOICES: tuple[str, ...] = get_args(PatchChoice)
DISTANCE_CHUNK = 1024
"""Patches per distance computation against the bank: bounds memory to ``DISTANCE_CHUNK × bank rows`` floats."""


@dataclass(frozen=True)
class BankGrowth:
    """Rows added to a memory bank: how many it held, which were added, from how many images."""

    rows_before: int
    added: torch.Tensor
    """(rows, features) on the bank's device."""
    images: int

    @property
    def rows_after(self) -> int:
        """The bank's size with the added rows."""
        return self.rows_before + len(self.added)


def nearest_distance(patches: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Each patch's Euclidean distance to its nearest bank row, in chunks."""
    return torch.cat([torch.cdist(chunk, bank).amin(dim=1) for chunk in patches.split(DISTANCE_CHUNK)])


def farthest_from_bank(patches: torch.Tensor, bank: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of up to ``count`` patches chosen by k-center greedy continued from ``bank`` (farthest first); stops
    early once every patch lies on a chosen row or a bank row."""
    distance = nearest_distance(patches, bank)
    chosen: list[int] = []
    for _ in range(min(count, len(patches))):
        index = int(distance.argmax())
        if float(distance[index]) <= 0.0:
            break
        chosen.append(index)
        distance = torch.minimum(distance, torch.cdist(patches, patches[index : index + 1])[:, 0])
    return torch.tensor(chosen, dtype=torch.long, device=patches.device)


def rows_per_image(patches_per_image: int, coreset_ratio: float) -> int:
    """What one training image contributes to the bank on average: its patches times the coreset ratio."""
    return max(1, math.ceil(patches_per_image * coreset_ratio))


@torch.no_grad()
def grow_bank(
    model: PatchcoreModel, inputs: torch.Tensor, coreset_ratio: float, patches: PatchChoice = "coreset"
) -> BankGrowth:
    """Add the patches of pre-processed normal images ``inputs`` to ``model``'s memory bank (in place), image after
    image, each choosing against the bank grown so far."""
    if patches not in PATCH_CHOICES:
        raise ValueError(f"patches={patches!r} is not accepted; use one of {', '.join(PATCH_CHOICES)}")
    bank = model.memory_bank
    rows_before = len(bank)
    added = []
    for image in inputs.to(bank.device):
        per_image, _ = patch_embeddings(model, image[None])
        candidates = per_image[0]
        if patches == "coreset":
            count = rows_per_image(len(candidates), coreset_ratio)
            candidates = candidates[farthest_from_bank(candidates, model.memory_bank, count)]
        added.append(candidates)
        model.memory_bank = torch.cat([model.memory_bank, candidates])
    rows = torch.cat(added) if added else bank[:0]
    return BankGrowth(rows_before=rows_before, added=rows, images=len(inputs))
