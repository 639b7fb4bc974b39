"""MVTec-AD layout: the defect taxonomy, sample listing, validation, and content fingerprints of files and folders.

Layout of one category (the same for real MVTec-AD and the synthetic generator)::

    <root>/<category>/train/good/*.png
    <root>/<category>/test/good/*.png
    <root>/<category>/test/<defect>/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png

A synthetic root also holds ``<root>/dataset.json`` (written by :mod:`services.data.synthetic`); a real MVTec-AD
root has none, which is how :func:`open_dataset` tells the two apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from PIL import Image, UnidentifiedImageError

from services.data.images import upright_size

MVTEC_DEFECTS: dict[str, tuple[str, ...]] = {
    "tile": ("crack", "glue_strip", "gray_stroke", "oil", "rough"),
    "leather": ("color", "cut", "fold", "glue", "poke"),
    "grid": ("bent", "broken", "glue", "metal_contamination", "thread"),
}
NORMAL = "good"
MVTEC_AD_VERSION = "2019"
DATASET_RECORD = "dataset.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = "_mask.png"
FINGERPRINT_CHARS = 16

DatasetName = Literal["synthetic", "mvtec_ad"]
Split = Literal["train", "test"]


class DatasetError(ValueError):
    """A dataset folder does not have the expected MVTec-AD layout or content."""


@dataclass(frozen=True)
class DatasetInfo:
    """A validated dataset root: what it is, which categories it holds and a content fingerprint."""

    name: DatasetName
    root: Path
    categories: tuple[str, ...]
    fingerprint: str
    version: str


@dataclass(frozen=True)
class Sample:
    """One image of a category; ``defect_type`` is ``good`` for normal images, which have no mask."""

    path: Path
    split: Split
    defect_type: str
    mask_path: Path | None

    @property
    def is_anomalous(self) -> bool:
        """True for images of a defect type."""
        return self.defect_type != NORMAL


def check_category(category: str) -> tuple[str, ...]:
    """The defect types of ``category``; raises :class:`DatasetError` for a category outside the taxonomy."""
    if category not in MVTEC_DEFECTS:
        raise DatasetError(f"unknown category {category!r}; accepted: {', '.join(MVTEC_DEFECTS)}")
    return MVTEC_DEFECTS[category]


def mask_path_for(root: Path, category: str, defect_type: str, image: Path) -> Path:
    """Where MVTec-AD keeps the mask of a test image: ``ground_truth/<defect>/<stem>_mask.png``."""
    return root / category / "ground_truth" / defect_type / f"{image.stem}{MASK_SUFFIX}"


def read_mask(path: Path) -> np.ndarray:
    """A ground-truth mask file as a boolean (H, W) array: pixels above mid-grey are defect."""
    return np.asarray(Image.open(path).convert("L")) > 127


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
    )


def _split_dir(root: Path, category: str, split: str) -> Path:
    if split not in get_args(Split):
        raise DatasetError(f"unknown split {split!r}; accepted: {', '.join(get_args(Split))}")
    check_category(category)
    category_dir = root / category
    if not category_dir.is_dir():
        raise DatasetError(
            f"missing category folder {category_dir}: expected {category}/train/good, {category}/test/<defect> "
            f"and {category}/ground_truth/<defect> inside {root}"
        )
    split_dir = category_dir / split
    if not split_dir.is_dir():
        raise DatasetError(f"missing {split} folder {split_dir}: expected {split}/good with images inside it")
    return split_dir


def list_samples(root: Path, category: str, split: Split) -> list[Sample]:
    """Every image of one split, sorted by defect type then file name; test defects must have their masks."""
    root = Path(root)
    split_dir = _split_dir(root, category, split)
    if split == "train":
        good = split_dir / NORMAL
        images = _images_in(good) if good.is_dir() else []
        if not images:
            raise DatasetError(f"empty train/good folder {good}: expected at least one normal training image")
        return [Sample(path, "train", NORMAL, None) for path in images]
    samples: list[Sample] = []
    accepted = (NORMAL, *MVTEC_DEFECTS[category])
    for folder in sorted(path for path in split_dir.iterdir() if path.is_dir()):
        if folder.name not in accepted:
            raise DatasetError(f"unknown defect folder {folder}; accepted for {category}: {', '.join(accepted)}")
        for image in _images_in(folder):
            mask = None if folder.name == NORMAL else mask_path_for(root, category, folder.name, image)
            if mask is not None and not mask.is_file():
                raise DatasetError(f"test image {image} has no mask: expected {mask}")
            samples.append(Sample(image, "test", folder.name, mask))
    if not samples:
        raise DatasetError(f"empty test folder {split_dir}: expected test/good and test/<defect> images")
    return samples


def _image_size(path: Path, *, upright: bool = False) -> tuple[int, int]:
    """Width and height of a verified file; ``upright``: after its EXIF orientation (a PNG may decode to find it)."""
    try:
        with Image.open(path) as image:
            size = image.size
            image.verify()
        if upright:
            with Image.open(path) as image:
                size = upright_size(image)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"unreadable or corrupt image file {path}: expected a decodable image ({exc})") from exc
    return size


def _check_orphan_masks(root: Path, category: str) -> None:
    truth = root / category / "ground_truth"
    if not truth.is_dir():
        return
    for folder in sorted(path for path in truth.iterdir() if path.is_dir()):
        image_dir = root / category / "test" / folder.name
        stems = {image.stem for image in _images_in(image_dir)} if image_dir.is_dir() else set()
        for mask in sorted(folder.glob(f"*{MASK_SUFFIX}")):
            stem = mask.name.removesuffix(MASK_SUFFIX)
            if stem not in stems:
                raise DatasetError(f"mask {mask} has no test image: expected {image_dir / stem}.png")


def validate_category(root: Path, category: str) -> None:
    """Check one category folder: layout, masks for every defect image and back, readable files, mask sizes
    (against the upright image, as it is decoded)."""
    root = Path(root)
    samples = list_samples(root, category, "train") + list_samples(root, category, "test")
    _check_orphan_masks(root, category)
    for sample in samples:
        size = _image_size(sample.path, upright=sample.mask_path is not None)
        if sample.mask_path is None:
            continue
        mask_size = _image_size(sample.mask_path)
        if mask_size != size:
            raise DatasetError(
                f"mask {sample.mask_path} is {mask_size[0]}x{mask_size[1]} px: expected {size[0]}x{size[1]} px "
                f"like its image {sample.path}"
            )


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def category_fingerprint(root: Path, category: str) -> str:
    """Short sha256 over the relative path and bytes of every (non-hidden) file in a category folder."""
    category_dir = Path(root) / category
    digest = hashlib.sha256()
    files = sorted(path for path in category_dir.rglob("*") if path.is_file() and not path.name.startswith("."))
    for path in files:
        digest.update(path.relative_to(category_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def combine_fingerprints(fingerprints: Mapping[str, str]) -> str:
    """One dataset fingerprint from per-category fingerprints (independent of their order)."""
    text = "".join(f"{category}:{fingerprints[category]}\n" for category in sorted(fingerprints))
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_CHARS]


def dataset_fingerprint(root: Path, categories: Iterable[str]) -> str:
    """The fingerprint of the given categories of a root."""
    return combine_fingerprints({category: category_fingerprint(root, category) for category in categories})


def _unique(categories: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(categories))
    if not chosen:
        raise DatasetError(f"no categories given; accepted: {', '.join(MVTEC_DEFECTS)}")
    for category in chosen:
        check_category(category)
    return chosen


def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} is not a folder: expected a folder holding <category>/train/good")


@dataclass(frozen=True)
class DatasetRecord:
    """What a generated root's ``dataset.json`` states: its name, version and per-category fingerprints."""

    name: str
    version: str
    categories: tuple[str, ...]
    category_fingerprints: dict[str, str]


def read_dataset_record(root: Path) -> DatasetRecord | None:
    """The ``dataset.json`` of a root, or None when there is none (a real MVTec-AD root)."""
    record_path = Path(root) / DATASET_RECORD
    if not record_path.is_file():
        return None
    try:
        raw = json.loads(record_path.read_text())
        record = DatasetRecord(
            name=str(raw["name"]),
            version=str(raw["version"]),
            categories=tuple(str(category) for category in raw["categories"]),
            category_fingerprints={str(key): str(value) for key, value in raw["category_fingerprints"].items()},
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetError(
            f"unreadable {record_path}: expected the JSON written by the synthetic generator with name, version, "
            f"categories and category_fingerprints ({exc!r})"
        ) from exc
    return record


def _present_categories(root: Path) -> tuple[str, ...]:
    present = tuple(category for category in MVTEC_DEFECTS if (root / category).is_dir())
    if not present:
        raise DatasetError(f"{root} holds none of the category folders {', '.join(MVTEC_DEFECTS)}")
    return present


def validate_mvtec_root(root: Path, categories: Sequence[str] | None = None) -> DatasetInfo:
    """Validate a real MVTec-AD root (no ``dataset.json``) and name it ``mvtec_ad``.

    ``categories=None`` takes every category of the taxonomy that has a folder in ``root``.
    """
    root = Path(root).resolve()
    _check_root(root)
    if (root / DATASET_RECORD).exists():
        raise DatasetError(
            f"{root} holds {DATASET_RECORD}, so it is generated data, not MVTec-AD; open it with open_dataset"
        )
    chosen = _unique(_present_categories(root) if categories is None else categories)
    for category in chosen:
        validate_category(root, category)
    return DatasetInfo("mvtec_ad", root, chosen, dataset_fingerprint(root, chosen), MVTEC_AD_VERSION)


def open_dataset(root: Path, categories: Sequence[str] | None = None) -> DatasetInfo:
    """Open a root: ``synthetic`` when it holds the generator's ``dataset.json`` (checked against it), else MVTec-AD.

    ``categories=None`` takes every category the root holds.
    """
    root = Path(root).resolve()
    _check_root(root)
    record = read_dataset_record(root)
    if record is None:
        return validate_mvtec_root(root, categories)
    record_path = root / DATASET_RECORD
    if record.name != "synthetic":
        raise DatasetError(f"{record_path} names dataset {record.name!r}: expected 'synthetic'")
    chosen = _unique(record.categories if categories is None else categories)
    recorded = record.category_fingerprints
    missing = [category for category in chosen if category not in recorded]
    if missing:
        raise DatasetError(
            f"{root} has no synthetic {', '.join(missing)}; it holds {', '.join(recorded)} (see {record_path})"
        )
    fingerprints: dict[str, str] = {}
    for category in chosen:
        validate_category(root, category)
        fingerprints[category] = category_fingerprint(root, category)
        if fingerprints[category] != recorded[category]:
            raise DatasetError(
                f"files under {root / category} changed since generation: fingerprint {fingerprints[category]}, "
                f"{record_path} records {recorded[category]}; regenerate with `python -m services.cli synth`"
            )
    return DatasetInfo("synthetic", root, chosen, combine_fingerprints(fingerprints), record.version)

