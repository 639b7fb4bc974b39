"""One picture written as three awkward files that a bare ``Image.open(path).convert("RGB")`` misreads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 48, 64  # non-square, so a missed EXIF rotation changes the decoded shape
EXIF_ORIENTATION = 0x0112
ROTATED_CLOCKWISE = 6  # EXIF: turn the stored pixels 90° clockwise to display them
VARIANTS = ("rgba", "exif", "gray16")


def picture(seed: int) -> np.ndarray:
    """A smooth random ``(HEIGHT, WIDTH, 3)`` uint8 texture: blocky noise, upsampled so JPEG keeps it."""
    coarse = np.random.default_rng(seed).integers(40, 216, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR))


def write_variant(rgb: np.ndarray, variant: str, folder: Path, stem: str) -> Path:
    """``rgba``: PNG whose left quarter is transparent and next quarter half-transparent; ``exif``: JPEG stored
    rotated 90° counter-clockwise with orientation 6; ``gray16``: 16-bit grayscale PNG of the mean channel."""
    folder.mkdir(parents=True, exist_ok=True)
    if variant == "rgba":
        alpha = np.full(rgb.shape[:2], 255, dtype=np.uint8)
        alpha[:, : WIDTH // 4], alpha[:, WIDTH // 4 : WIDTH // 2] = 0, 128
        path = folder / f"{stem}.png"
        Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA").save(path)
    elif variant == "exif":
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = ROTATED_CLOCKWISE
        path = folder / f"{stem}.jpg"
        Image.fromarray(np.ascontiguousarray(np.rot90(rgb))).save(path, quality=95, exif=exif.tobytes())
    elif variant == "gray16":
        gray = np.rint(rgb.mean(axis=2) * 257).astype(np.uint16)
        path = folder / f"{stem}.png"
        Image.fromarray(gray).save(path)
    else:
        raise ValueError(f"unknown variant {variant!r}; accepted: {', '.join(VARIANTS)}")
    return path
