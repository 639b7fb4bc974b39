"""Tiny dataset trees written by the tests: flat images of one grey level, in any format by file suffix."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from services.data.categories import MVTEC_AD_CATEGORIES


def write_image(path: Path, size: int | tuple[int, int] = 8, value: int = 128, mode: str = "RGB") -> Path:
    """A flat image of ``size`` (side, or (width, height)); the format follows the suffix (PNG, JPEG, BMP, TIFF)."""
    width, height = (size, size) if isinstance(size, int) else size
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return path


def mvtec_tree(root: Path, category: str, defects: Iterable[str], n_train: int = 4, size: int = 2) -> Path:
    """``<root>/<category>`` in MVTec layout: ``n_train`` normals, one normal and one masked image per defect type."""
    base = root / category
    for index in range(n_train):
        write_image(base / "train" / "good" / f"{index:03d}.png", size)
    write_image(base / "test" / "good" / "000.png", size)
    for defect in defects:
        write_image(base / "test" / defect / "000.png", size, value=90)
        write_image(base / "ground_truth" / defect / "000_mask.png", size, value=255, mode="L")
    return root


def real_mvtec_tree(root: Path, category: str) -> Path:
    """A 2×2 px tree of one MVTec-AD category with each of its real defect folders."""
    return mvtec_tree(root, category, MVTEC_AD_CATEGORIES[category])


def folder_tree(
    root: Path,
    n_normals: int = 10,
    defects: dict[str, int] | None = None,
    suffix: str = ".png",
    size: tuple[int, int] = (6, 4),
) -> Path:
    """A folder-layout root: ``n_normals`` images in ``good/`` and, per defect type, that many images, no masks."""
    for index in range(n_normals):
        write_image(root / "good" / f"n{index:02d}{suffix}", size)
    for defect, count in (defects or {}).items():
        for index in range(count):
            write_image(root / defect / f"{defect}_{index}{suffix}", size, value=60)
    return root
