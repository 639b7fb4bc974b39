"""Natural photographs that ship inside installed Python packages, and random augmented crops of them.

They stand in for ImageNet/imagenette offline: EfficientAd's teacher is distilled on them and its penalty
folder is built from them. Every photo is found by path inside an installed wheel (scikit-image, scikit-learn,
matplotlib); nothing is downloaded, and photos whose package is missing are skipped.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

# (package, path inside the package, name); gray photos are converted to RGB.
BUNDLED_PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("skimage", "data/astronaut.png", "astronaut"),
    ("skimage", "data/chelsea.png", "chelsea"),
    ("skimage", "data/coffee.png", "coffee"),
    ("skimage", "data/rocket.jpg", "rocket"),
    ("skimage", "data/hubble_deep_field.jpg", "hubble_deep_field"),
    ("skimage", "data/retina.jpg", "retina"),
    ("skimage", "data/ihc.png", "immunohistochemistry"),
    ("skimage", "data/motorcycle_left.png", "motorcycle_left"),
    ("skimage", "data/motorcycle_right.png", "motorcycle_right"),
    ("skimage", "data/camera.png", "camera"),
    ("skimage", "data/brick.png", "brick"),
    ("skimage", "data/grass.png", "grass"),
    ("skimage", "data/gravel.png", "gravel"),
    ("skimage", "data/moon.png", "moon"),
    ("skimage", "data/coins.png", "coins"),
    ("skimage", "data/text.png", "text"),
    ("sklearn", "datasets/images/china.jpg", "china"),
    ("sklearn", "datasets/images/flower.jpg", "flower"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),
)

CROP_SCALE = (0.08, 1.0)  # fraction of the photo's area kept by a random resized crop
CROP_RATIO = (3 / 4, 4 / 3)  # aspect ratio range of a random resized crop
JITTER = 0.3  # brightness, contrast and saturation factors are drawn from [1 - JITTER, 1 + JITTER]
GRAYSCALE_PROBABILITY = 0.2
QUARTER_TURNS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)


class NaturalImagesError(ValueError):
    """Natural photos were asked for with arguments that are not accepted, or none are installed."""


@dataclass(frozen=True, eq=False)
class NaturalPhoto:
    """One bundled photo: its name, the package it ships in, and its pixels (H×W×3 uint8 RGB)."""

    name: str
    package: str
    rgb: np.ndarray


def _package_dir(package: str) -> Path | None:
    """The installed folder of a top-level package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def _load_photos() -> tuple[NaturalPhoto, ...]:
    photos = []
    for package, relative, name in BUNDLED_PHOTOS:
        folder = _package_dir(package)
        path = folder / relative if folder is not None else None
        if path is None or not path.is_file():
            continue
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
        rgb.setflags(write=False)
        photos.append(NaturalPhoto(name=name, package=package, rgb=rgb))
    return tuple(photos)


def natural_photos() -> list[NaturalPhoto]:
    """Every bundled photo of :data:`BUNDLED_PHOTOS` whose package is installed (read once, then cached)."""
    photos = list(_load_photos())
    if not photos:
        raise NaturalImagesError("no bundled photos found; install scikit-image, scikit-learn or matplotlib")
    return photos


def _size_pair(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else size
    if height <= 0 or width <= 0:
        raise NaturalImagesError(f"crop size must be positive, got {size!r}")
    return height, width


def _jitter_colours(crop: Image.Image, rng: np.random.Generator) -> Image.Image:
    brightness, contrast, saturation = rng.uniform(1 - JITTER, 1 + JITTER, size=3)
    crop = ImageEnhance.Brightness(crop).enhance(brightness)
    crop = ImageEnhance.Contrast(crop).enhance(contrast)
    crop = ImageEnhance.Color(crop).enhance(saturation)
    if rng.random() < GRAYSCALE_PROBABILITY:
        crop = crop.convert("L").convert("RGB")
    return crop


def augmented_crop(rgb: np.ndarray, size: int | tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One random resized crop of ``rgb`` (H×W×3 uint8) to ``size`` (side or (height, width)).

    The crop keeps a random area fraction in :data:`CROP_SCALE` with an aspect ratio in :data:`CROP_RATIO`,
    then is flipped, rotated by a multiple of 90°, colour-jittered and sometimes turned gray.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise NaturalImagesError(f"expected an H×W×3 uint8 image, got shape {rgb.shape} dtype {rgb.dtype}")
    out_height, out_width = _size_pair(size)
    height, width = rgb.shape[:2]
    area = height * width * rng.uniform(*CROP_SCALE)
    ratio = float(np.exp(rng.uniform(np.log(CROP_RATIO[0]), np.log(CROP_RATIO[1]))))
    crop_width = int(np.clip(round(np.sqrt(area * ratio)), 1, width))
    crop_height = int(np.clip(round(np.sqrt(area / ratio)), 1, height))
    top = int(rng.integers(0, height - crop_height + 1))
    left = int(rng.integers(0, width - crop_width + 1))
    quarter_turns = int(rng.integers(0, 4))
    resized_shape = (out_width, out_height) if quarter_turns % 2 == 0 else (out_height, out_width)
    region = np.ascontiguousarray(rgb[top : top + crop_height, left : left + crop_width])
    crop = Image.fromarray(region).resize(resized_shape, Image.Resampling.BILINEAR)
    if quarter_turns:
        crop = crop.transpose(QUARTER_TURNS[quarter_turns - 1])
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    return np.asarray(_jitter_colours(crop, rng))


def random_crops(
    photos: Sequence[NaturalPhoto], n: int, size: int | tuple[int, int], rng: np.random.Generator
) -> np.ndarray:
    """``n`` augmented crops (n×H×W×3 uint8), each from a photo picked uniformly at random.

    Each crop draws from its own generator seeded from ``rng``, so the result depends only on ``rng``'s state,
    not on the number of threads that build the crops (one per CPU core; Pillow releases the GIL while resizing).
    """
    if not photos:
        raise NaturalImagesError("random_crops needs at least one photo")
    if n < 0:
        raise NaturalImagesError(f"number of crops must be >= 0, got {n}")
    height, width = _size_pair(size)
    seeds = rng.integers(0, 2**63, size=n)

    def crop(seed: int) -> np.ndarray:
        own = np.random.default_rng(seed)
        return augmented_crop(photos[int(own.integers(0, len(photos)))].rgb, (height, width), own)

    crops = np.empty((n, height, width, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=max(1, min(n, os.cpu_count() or 1))) as pool:
        for index, image in enumerate(pool.map(crop, seeds)):
            crops[index] = image
    return crops
