"""Category-agnostic pseudo-anomalies for a validation split that needs no test labels (DRAEM-style).

A Perlin-noise region of random size, placed around a random centre, is replaced by a blend of either an
augmented natural-photo crop or a colour/texture-perturbed copy of the image itself (after Zavrtanik et al.,
"DRAEM", ICCV 2021). Nothing here knows about the synthetic test defects: thresholds calibrated on these images
are not tuned to the test set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from services.data.natural_images import augmented_crop, natural_photos

AREA_FRACTION = (0.005, 0.15)  # mask area as a fraction of the image, drawn log-uniformly
MAX_PERIOD_EXPONENT = 5  # Perlin lattice cells per side are 2**k, k in [0, 5], capped by the image size
MIN_PERIOD_PIXELS = 4  # a lattice cell is at least this many pixels wide
OPACITY = (0.5, 1.0)  # weight of the anomaly source in the blend
PHOTO_PROBABILITY = 0.5  # chance to paste a natural-photo crop rather than a perturbed copy of the image
MIN_MEAN_CHANGE = 12.0  # mean absolute change (gray levels) inside the mask below which the draw is redone
MAX_ATTEMPTS = 8
MIN_SIDE = 16


class PseudoAnomalyError(ValueError):
    """An image or anomaly source is not an H×W×3 uint8 array of the accepted size."""


def perlin_noise(height: int, width: int, periods: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-D gradient (Perlin) noise in about [-1, 1] with ``periods`` lattice cells along (height, width)."""
    cells_y, cells_x = periods
    angles = rng.uniform(0, 2 * np.pi, size=(cells_y + 1, cells_x + 1))
    gradients = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    y = np.arange(height) * cells_y / height
    x = np.arange(width) * cells_x / width
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        gradient = gradients[(y0 + dy)[:, None], (x0 + dx)[None, :]]
        return gradient[..., 0] * (fy - dy) + gradient[..., 1] * (fx - dx)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6 - 15) + 10)

    u, v = fade(fy), fade(fx)
    top = corner(0, 0) * (1 - v) + corner(0, 1) * v
    bottom = corner(1, 0) * (1 - v) + corner(1, 1) * v
    return np.sqrt(2) * (top * (1 - u) + bottom * u)


def anomaly_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of a random area fraction in :data:`AREA_FRACTION`: Perlin noise around a random centre."""
    area = float(np.exp(rng.uniform(np.log(AREA_FRACTION[0]), np.log(AREA_FRACTION[1]))))
    exponents = [min(MAX_PERIOD_EXPONENT, int(np.log2(max(side // MIN_PERIOD_PIXELS, 1)))) for side in (height, width)]
    periods = (2 ** int(rng.integers(0, exponents[0] + 1)), 2 ** int(rng.integers(0, exponents[1] + 1)))
    noise = perlin_noise(height, width, periods, rng)
    centre_y, centre_x = rng.uniform(0.15, 0.85, size=2) * (height, width)
    spread = np.sqrt(2 * area * height * width / np.pi)  # the window's 1-sigma disc covers about twice the area
    yy, xx = np.mgrid[0:height, 0:width]
    window = np.exp(-((yy - centre_y) ** 2 + (xx - centre_x) ** 2) / (2 * spread**2))
    score = noise + 2 * window
    return score > np.quantile(score, 1 - area)


def _gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return 255 * (image / 255) ** rng.uniform(0.4, 2.5)


def _brightness_contrast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    mean = image.mean()
    return (image - mean) * rng.uniform(0.4, 1.8) + mean + rng.uniform(-70, 70)


def _hue_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = np.asarray(Image.fromarray(image.clip(0, 255).astype(np.uint8)).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(int) + int(rng.integers(40, 216))) % 256
    hsv[..., 1] = np.maximum(hsv[..., 1], int(rng.integers(60, 200)))
    return np.asarray(Image.fromarray(hsv, mode="HSV").convert("RGB"), dtype=np.float64)


def _invert(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    del rng
    return 255 - image


def _solarize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    threshold = rng.uniform(32, 224)
    return np.where(image >= threshold, 255 - image, image)


def _posterize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    step = 2 ** int(rng.integers(5, 8))
    return (image // step) * step


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    blurred = Image.fromarray(image.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 4)))
    return np.asarray(blurred, dtype=np.float64)


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image + rng.normal(0, rng.uniform(15, 40), size=image.shape)


def _equalize(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    del rng
    return np.asarray(ImageOps.equalize(Image.fromarray(image.clip(0, 255).astype(np.uint8))), dtype=np.float64)


PERTURBATIONS: tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], ...] = (
    _gamma,
    _brightness_contrast,
    _hue_shift,
    _invert,
    _solarize,
    _posterize,
    _blur,
    _noise,
    _equalize,
)


def _perturbed_copy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image displaced (rolled, flipped) and passed through one or two random colour/texture perturbations."""
    height, width = image.shape[:2]
    copy = image.astype(np.float64)
    if rng.random() < 0.5:
        copy = np.roll(copy, (int(rng.integers(height // 8, height)), int(rng.integers(width // 8, width))), (0, 1))
        copy = copy[::-1] if rng.random() < 0.5 else copy[:, ::-1]
    for index in rng.choice(len(PERTURBATIONS), size=int(rng.integers(1, 3)), replace=False):
        copy = np.clip(PERTURBATIONS[index](copy, rng), 0, 255)
    return copy


def _check_rgb(array: np.ndarray, what: str) -> None:
    if not isinstance(array, np.ndarray) or array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        shape = getattr(array, "shape", None)
        dtype = getattr(array, "dtype", type(array).__name__)
        raise PseudoAnomalyError(f"{what} must be an H×W×3 uint8 array, got shape {shape} dtype {dtype}")
    if min(array.shape[:2]) < MIN_SIDE:
        raise PseudoAnomalyError(f"{what} must be at least {MIN_SIDE}×{MIN_SIDE} pixels, got {array.shape[:2]}")


def synthesize_anomaly(
    image: np.ndarray, rng: np.random.Generator, sources: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """A pseudo-anomalous copy of ``image`` (H×W×3 uint8) and its boolean H×W mask.

    Pixels outside the mask are unchanged. ``sources`` are natural photos (H×W×3 uint8, any size) to paste crops
    from; with none, the anomaly is always a perturbed copy of the image. The result depends only on ``image``,
    ``sources`` and the state of ``rng``.
    """
    _check_rgb(image, "image")
    for index, source in enumerate(sources):
        _check_rgb(source, f"source {index}")
    height, width = image.shape[:2]
    original = image.astype(np.float64)
    for _ in range(MAX_ATTEMPTS):
        mask = anomaly_mask(height, width, rng)
        if sources and rng.random() < PHOTO_PROBABILITY:
            source = sources[int(rng.integers(0, len(sources)))]
            anomaly = augmented_crop(source, (height, width), rng).astype(np.float64)
        else:
            anomaly = _perturbed_copy(image, rng)
        opacity = rng.uniform(*OPACITY)
        blended = np.clip(np.rint(opacity * anomaly + (1 - opacity) * original), 0, 255)
        result = np.where(mask[..., None], blended, original).astype(np.uint8)
        if np.abs(result[mask].astype(np.float64) - original[mask]).mean() >= MIN_MEAN_CHANGE:
            break
    return result, mask


def numbered_anomaly(image: np.ndarray, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``index``-th pseudo-anomalous copy of a seeded series, pasting from the bundled natural photos: how the
    validation split and the precision check make theirs, reproducibly."""
    sources = [photo.rgb for photo in natural_photos()]
    return synthesize_anomaly(image, np.random.default_rng([seed, index]), sources)
