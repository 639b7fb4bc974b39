"""EfficientAd's penalty image set, built offline from augmented crops of bundled natural photos.

EfficientAd penalises the student for matching the teacher on unrelated natural images (anomalib downloads
imagenette for this). This module writes a stand-in in ``torchvision.datasets.ImageFolder`` layout:
``<registry>/penalty_images/natural/NNNN.png``. A ``penalty.json`` in the root records how the set was made, so an
identical request reuses the files instead of rewriting them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from services.data.natural_images import natural_photos, random_crops
from services.settings import Settings

PENALTY_DIR = "penalty_images"
CLASS_DIR = "natural"  # ImageFolder needs at least one class folder
RECORD_FILE = "penalty.json"
DEFAULT_IMAGES = 200
DEFAULT_SIZE = 256


class PenaltyImagesError(ValueError):
    """The penalty folder was asked for with arguments that are not accepted."""


@dataclass(frozen=True)
class PenaltyRecord:
    """How a penalty folder was made."""

    n_images: int
    size: int
    seed: int
    photos: tuple[str, ...]


def penalty_root(settings: Settings) -> Path:
    """The ImageFolder root of the penalty set: ``<registry>/penalty_images``."""
    return settings.registry_dir / PENALTY_DIR


def _is_complete(root: Path, record: PenaltyRecord) -> bool:
    record_path = root / RECORD_FILE
    if not record_path.is_file():
        return False
    try:
        stored = json.loads(record_path.read_text())
    except json.JSONDecodeError:
        return False
    expected = {**asdict(record), "photos": list(record.photos)}
    return stored == expected and len(list((root / CLASS_DIR).glob("*.png"))) == record.n_images


def build_penalty_folder(
    settings: Settings, n_images: int = DEFAULT_IMAGES, size: int = DEFAULT_SIZE, seed: int | None = None
) -> Path:
    """Write ``n_images`` augmented ``size``×``size`` natural crops and return the ImageFolder root.

    ``seed`` defaults to ``settings.seed``. An existing folder made with the same arguments is reused as is;
    any other content of the class folder is replaced.
    """
    if n_images < 1:
        raise PenaltyImagesError(f"n_images must be >= 1, got {n_images}")
    if size < 16:
        raise PenaltyImagesError(f"size must be >= 16 pixels, got {size}")
    seed = settings.seed if seed is None else seed
    photos = natural_photos()
    record = PenaltyRecord(n_images=n_images, size=size, seed=seed, photos=tuple(photo.name for photo in photos))
    root = penalty_root(settings)
    if _is_complete(root, record):
        return root

    folder = root / CLASS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (root / RECORD_FILE).unlink(missing_ok=True)
    for stale in folder.glob("*.png"):
        stale.unlink()
    crops = random_crops(photos, n_images, size, np.random.default_rng(seed))
    for index, crop in enumerate(crops):
        Image.fromarray(crop).save(folder / f"{index:04d}.png")
    (root / RECORD_FILE).write_text(json.dumps(asdict(record), indent=2) + "\n")
    return root
