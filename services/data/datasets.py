"""MVTec-AD layout: sample listing, validation, image checks, and content fingerprints of files and folders.

Layout of one category (the same for real MVTec-AD, the synthetic generator and own data in this layout)::

    <root>/<category>/train/good/*.png
    <root>/<category>/test/good/*.png
    <root>/<category>/test/<defect>/*.png
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png

A synthetic root also holds ``<root>/dataset.json`` (written by :mod:`services.data.synthetic`); a real MVTec-AD
root has none, which is how :func:`open_dataset` tells the two apart. Any safe category name is accepted; its
defect types are the folder names under ``test/``. Only a root that claims to be MVTec-AD (no ``dataset.json``, and
the category is one of MVTec-AD's 15) has its defect folders checked against MVTec-AD's taxonomy.
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

from services.data.categories import MVTEC_AD_CATEGORIES, check_category_name, is_category_name
from services.data.errors import DatasetError, DatasetProblem
from services.data.images import SUFFIX_FORMATS, ImageInputError, load_image
from services.settings import get_settings

MVTEC_DEFECTS: dict[str, tuple[str, ...]] = {
    "tile": ("crack", "glue_strip", "gray_stroke", "oil", "rough"),
    "leather": ("color", "cut", "fold", "glue", "poke"),
    "grid": ("bent", "broken", "glue", "metal_contamination", "thread"),
}
"""The synthetic generator's categories and the MVTec-AD defect types it draws for each."""
NORMAL = "good"
MVTEC_AD_VERSION = "2019"
OWN_VERSION = "1"
"""Version of the rules that read own data (layouts, masks, held-out normals); the fingerprint names the files."""
DATASET_RECORD = "dataset.json"
IMAGE_SUFFIXES = tuple(SUFFIX_FORMATS)
MASK_SUFFIX = "_mask.png"
FINGERPRINT_CHARS = 16

DatasetName = Literal["synthetic", "mvtec_ad", "own"]
Split = Literal["train", "test"]
MaskPolicy = Literal["required", "optional"]
"""``required``: a defect image without its mask is an error; ``optional``: it is kept as image-level only."""


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
    """One image of a category; ``defect_type`` is ``good`` for normal images, which have no mask; a defect image
    without ``mask_path`` is labelled at image level only."""

    path: Path
    split: Split
    defect_type: str
    mask_path: Path | None

    @property
    def is_anomalous(self) -> bool:
        """True for images of a defect type."""
        return self.defect_type != NORMAL


def check_category(category: str) -> tuple[str, ...]:
    """The defect types of a synthetic ``category``; raises :class:`DatasetError` for one the generator lacks."""
    if category not in MVTEC_DEFECTS:
        raise DatasetError(f"unknown category {category!r}; accepted: {', '.join(MVTEC_DEFECTS)}")
    return MVTEC_DEFECTS[category]


def mask_path_for(root: Path, category: str, defect_type: str, image: Path) -> Path:
    """Where MVTec-AD keeps the mask of a test image: ``ground_truth/<defect>/<stem>_mask.png``."""
    return root / category / "ground_truth" / defect_type / f"{image.stem}{MASK_SUFFIX}"


def read_mask(path: Path) -> np.ndarray:
    """A ground-truth mask file as a boolean (H, W) array: pixels above mid-grey are defect."""
    return np.asarray(Image.open(path).convert("L")) > 127


def image_files(folder: Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted: suffixes of :data:`IMAGE_SUFFIXES` in any case, hidden
    files skipped."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
    )


def subfolders(folder: Path) -> list[Path]:
    """The non-hidden folders directly inside ``folder``, sorted by name."""
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


def claimed_mvtec_defects(root: Path, category: str) -> tuple[str, ...] | None:
    """MVTec-AD's defect folders of ``category`` when ``root`` claims to be MVTec-AD (no ``dataset.json`` and one of
    its 15 categories); None otherwise, where any defect folder is accepted."""
    if category in MVTEC_AD_CATEGORIES and not (Path(root) / DATASET_RECORD).exists():
        return MVTEC_AD_CATEGORIES[category]
    return None


def _category_dir(root: Path, category: str) -> Path:
    check_category_name(category)
    category_dir = root / category
    if not category_dir.is_dir():
        raise DatasetError(
            f"missing category folder {category_dir}: expected {category}/train/good, {category}/test/<defect> "
            f"and {category}/ground_truth/<defect> inside {root}"
        )
    return category_dir


def _test_samples(
    root: Path, category: str, split_dir: Path, masks: MaskPolicy
) -> tuple[list[Sample], list[DatasetProblem]]:
    accepted = claimed_mvtec_defects(root, category)
    samples: list[Sample] = []
    problems: list[DatasetProblem] = []
    for folder in subfolders(split_dir):
        if accepted is not None and folder.name not in (NORMAL, *accepted):
            names = ", ".join((NORMAL, *accepted))
            message = f"unknown defect folder {folder}; accepted for {category}: {names} (MVTec-AD's defect folders)"
            problems.append(DatasetProblem(folder, message))
            continue
        for image in image_files(folder):
            mask: Path | None = None
            if folder.name != NORMAL:
                mask = mask_path_for(root, category, folder.name, image)
                if not mask.is_file():
                    if masks == "required":
                        problems.append(DatasetProblem(image, f"test image {image} has no mask: expected {mask}"))
                    mask = None
            samples.append(Sample(image, "test", folder.name, mask))
    if not samples and not problems:
        message = f"empty test folder {split_dir}: expected test/good and test/<defect> images"
        problems.append(DatasetProblem(split_dir, message))
    return samples, problems


def _split_samples(
    root: Path, category: str, split: str, masks: MaskPolicy
) -> tuple[list[Sample], list[DatasetProblem]]:
    """One split's samples and the problems of its layout; only an unknown split or a missing category raise."""
    if split not in get_args(Split):
        raise DatasetError(f"unknown split {split!r}; accepted: {', '.join(get_args(Split))}")
    split_dir = _category_dir(root, category) / split
    if not split_dir.is_dir():
        message = f"missing {split} folder {split_dir}: expected {split}/good with images inside it"
        return [], [DatasetProblem(split_dir, message)]
    if split == "test":
        return _test_samples(root, category, split_dir, masks)
    good = split_dir / NORMAL
    images = image_files(good) if good.is_dir() else []
    if not images:
        message = f"empty train/good folder {good}: expected at least one normal training image"
        return [], [DatasetProblem(good, message)]
    return [Sample(path, "train", NORMAL, None) for path in images], []


def list_samples(root: Path, category: str, split: Split, *, masks: MaskPolicy = "required") -> list[Sample]:
    """Every image of one split, sorted by defect type then file name; with ``masks="required"`` every test defect
    has its mask, with ``optional`` one without is image-level (``mask_path=None``)."""
    samples, problems = _split_samples(Path(root), category, split, masks)
    if problems:
        raise DatasetError.from_problems(problems)
    return samples


def _orphan_masks(root: Path, category: str) -> list[DatasetProblem]:
    truth = root / category / "ground_truth"
    if not truth.is_dir():
        return []
    problems = []
    for folder in subfolders(truth):
        image_dir = root / category / "test" / folder.name
        stems = {image.stem for image in image_files(image_dir)} if image_dir.is_dir() else set()
        for mask in sorted(folder.glob(f"*{MASK_SUFFIX}")):
            stem = mask.name.removesuffix(MASK_SUFFIX)
            if stem not in stems:
                message = f"mask {mask} has no test image: expected {image_dir / stem}.png"
                problems.append(DatasetProblem(mask, message))
    return problems


def read_mvtec_category(
    root: Path, category: str, masks: MaskPolicy = "required"
) -> tuple[list[Sample], list[Sample], list[DatasetProblem]]:
    """Train and test samples of one category and every problem of its layout and masks, files not decoded; a
    missing category folder raises :class:`DatasetError`."""
    root = Path(root)
    train, train_problems = _split_samples(root, category, "train", masks)
    test, test_problems = _split_samples(root, category, "test", masks)
    return train, test, [*train_problems, *test_problems, *_orphan_masks(root, category)]


@dataclass(frozen=True)
class ImageScan:
    """Every image decoded as a model will see it: the upright (width, height) of each readable one, and problems."""

    sizes: dict[Path, tuple[int, int]]
    problems: tuple[DatasetProblem, ...]


def _mask_size(path: Path) -> tuple[int, int]:
    """Width and height of a verified mask file."""
    try:
        with Image.open(path) as image:
            size = image.size
            image.verify()
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"unreadable or corrupt mask file {path}: expected a decodable image ({exc})") from exc
    return size


def _mask_problem(sample: Sample, size: tuple[int, int]) -> DatasetProblem | None:
    mask = sample.mask_path
    if mask is None:
        return None
    try:
        mask_size = _mask_size(mask)
    except DatasetError as exc:
        return DatasetProblem(mask, str(exc))
    if mask_size == size:
        return None
    message = (
        f"mask {mask} is {mask_size[0]}x{mask_size[1]} px: expected {size[0]}x{size[1]} px like its image "
        f"{sample.path} (as decoded, upright)"
    )
    return DatasetProblem(mask, message)


def scan_images(samples: Sequence[Sample], max_pixels: int | None = None) -> ImageScan:
    """Decode every image by :func:`load_image`'s rules and check each mask against its upright image, so a file the
    models cannot read is found before training; ``max_pixels`` defaults to the process settings' limit."""
    limit = get_settings().max_image_pixels if max_pixels is None else max_pixels
    sizes: dict[Path, tuple[int, int]] = {}
    problems: list[DatasetProblem] = []
    for sample in samples:
        try:
            loaded = load_image(sample.path, max_pixels=limit)
        except ImageInputError as exc:
            reason = str(exc).removeprefix(f"{sample.path.name}: ")
            problems.append(DatasetProblem(sample.path, f"unreadable or corrupt image file {sample.path}: {reason}"))
            continue
        sizes[sample.path] = (loaded.width, loaded.height)
        problem = _mask_problem(sample, sizes[sample.path])
        if problem is not None:
            problems.append(problem)
    return ImageScan(sizes, tuple(problems))


def validate_category(root: Path, category: str, masks: MaskPolicy = "required") -> None:
    """Check one category folder: layout, masks for every defect image (when required) and back, every image
    decodable, mask sizes (against the upright image, as it is decoded); raises with every problem found."""
    train, test, problems = read_mvtec_category(root, category, masks)
    problems += scan_images(train + test).problems
    if problems:
        raise DatasetError.from_problems(problems)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_fingerprint(base: Path, files: Iterable[Path]) -> str:
    """Short sha256 over the path relative to ``base`` and the bytes of each file, in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(base).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def category_fingerprint(root: Path, category: str) -> str:
    """Short sha256 over the relative path and bytes of every (non-hidden) file in a category folder."""
    category_dir = Path(root) / category
    files = [path for path in category_dir.rglob("*") if path.is_file() and not path.name.startswith(".")]
    return files_fingerprint(category_dir, files)


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
        raise DatasetError("no categories given: expected at least one category name")
    for category in chosen:
        check_category_name(category)
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


def present_categories(root: Path) -> tuple[str, ...]:
    """The category folders of an MVTec-layout root, sorted: safe names holding a ``train`` folder."""
    present = tuple(
        folder.name for folder in subfolders(root) if is_category_name(folder.name) and (folder / "train").is_dir()
    )
    if not present:
        raise DatasetError(f"{root} holds no category folder: expected <category>/train/good inside it")
    return present


def mvtec_layout_name(categories: Iterable[str]) -> DatasetName:
    """``mvtec_ad`` when every category is one of MVTec-AD's 15, else ``own``: own data in MVTec layout."""
    return "mvtec_ad" if all(category in MVTEC_AD_CATEGORIES for category in categories) else "own"


def mvtec_layout_info(root: Path, categories: tuple[str, ...]) -> DatasetInfo:
    """The :class:`DatasetInfo` of validated categories of an MVTec-layout root without ``dataset.json``."""
    name = mvtec_layout_name(categories)
    version = MVTEC_AD_VERSION if name == "mvtec_ad" else OWN_VERSION
    return DatasetInfo(name, root, categories, dataset_fingerprint(root, categories), version)


def validate_mvtec_root(root: Path, categories: Sequence[str] | None = None) -> DatasetInfo:
    """Validate an MVTec-layout root without ``dataset.json``, named by :func:`mvtec_layout_name`.

    ``categories=None`` takes every category folder of ``root``.
    """
    root = Path(root).resolve()
    _check_root(root)
    if (root / DATASET_RECORD).exists():
        raise DatasetError(
            f"{root} holds {DATASET_RECORD}, so it is generated data, not MVTec-AD; open it with open_dataset"
        )
    chosen = _unique(present_categories(root) if categories is None else categories)
    for category in chosen:
        validate_category(root, category)
    return mvtec_layout_info(root, chosen)


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
