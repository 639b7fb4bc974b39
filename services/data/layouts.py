"""One entry point for a category in any layout: read it, decode and check every file, name the data.

``mvtec``: ``<root>/<category>/train|test|ground_truth`` (:mod:`services.data.datasets`), masks required by default;
``folder``: a normal folder and defect folders (:mod:`services.data.folder_layout`), masks optional by default.
A file that resolves outside the dataset folder (a symbolic link, or a file in a linked folder) is a problem and is
never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.data.category_data import (
    LAYOUTS,
    MIN_TRAIN_NORMALS,
    CategoryData,
    Layout,
    defect_notes,
    too_few_normals,
)
from services.data.datasets import (
    NORMAL,
    OWN_VERSION,
    DatasetInfo,
    MaskPolicy,
    Sample,
    files_fingerprint,
    mvtec_layout_info,
    open_dataset,
    present_categories,
    read_dataset_record,
    read_mvtec_category,
    scan_images,
    subfolders,
)
from services.data.errors import DatasetError, DatasetProblem
from services.data.folder_layout import FolderSpec, read_folder

DEFAULT_MASKS: dict[Layout, MaskPolicy] = {"mvtec": "required", "folder": "optional"}


@dataclass(frozen=True)
class CategoryScan:
    """A category read and every file checked: the dataset root, the data (empty when unreadable), the upright size
    of each readable image and every problem found."""

    root: Path
    category: str
    layout: Layout
    masks: MaskPolicy
    data: CategoryData
    sizes: dict[Path, tuple[int, int]]
    problems: tuple[DatasetProblem, ...]


def detect_layout(root: Path) -> Layout:
    """``mvtec`` when ``root`` is a category folder (holds ``train/``) or holds one, else ``folder``."""
    root = Path(root)
    if not root.is_dir():
        return "folder"
    if (root / "train").is_dir() or any((folder / "train").is_dir() for folder in subfolders(root)):
        return "mvtec"
    return "folder"


def _mvtec_target(root: Path, category: str | None) -> tuple[Path, str]:
    """The MVTec-layout root and category: ``root`` may be the category folder itself, and a root holding a single
    category needs no name."""
    if category is not None:
        if not (root / category).is_dir() and root.name == category and (root / "train").is_dir():
            return root.parent, category
        return root, category
    if (root / "train").is_dir():
        return root.parent, root.name
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} is not a folder: expected a folder holding <category>/train/good")
    present = present_categories(root)
    if len(present) > 1:
        raise DatasetError(f"{root} holds {len(present)} categories ({', '.join(present)}): name the one to read")
    return root, present[0]


def _read_mvtec(root: Path, category: str, masks: MaskPolicy) -> tuple[CategoryData, list[DatasetProblem]]:
    train, test, problems = read_mvtec_category(root, category, masks)
    if train and len(train) < MIN_TRAIN_NORMALS:
        problems.append(too_few_normals(root / category / "train" / NORMAL, len(train), MIN_TRAIN_NORMALS))
    return CategoryData(category, "mvtec", tuple(train), tuple(test), defect_notes(test)), problems


def _read(
    root: Path, category: str, layout: Layout, masks: MaskPolicy, *, seed: int, spec: FolderSpec | None = None
) -> tuple[CategoryData, list[DatasetProblem]]:
    """The category in its layout, files not decoded, and every problem of its layout and masks."""
    if layout == "folder":
        return read_folder(root, category, spec=spec, masks=masks, seed=seed)
    return _read_mvtec(root, category, masks)


def _outside(root: Path, samples: tuple[Sample, ...]) -> list[DatasetProblem]:
    """A problem for each image or mask that resolves outside ``root`` (a symbolic link, or inside a linked folder)."""
    problems = []
    for path in (path for sample in samples for path in (sample.path, sample.mask_path) if path is not None):
        target = path.resolve()
        if not target.is_relative_to(root):
            message = (
                f"{path} leads outside the dataset folder {root} (a symbolic link to {target}): files are read only "
                "inside the dataset folder; copy the file into it"
            )
            problems.append(DatasetProblem(path, message))
    return problems


def scan_category(
    root: Path,
    category: str | None = None,
    *,
    layout: Layout | None = None,
    masks: MaskPolicy | None = None,
    seed: int = 0,
    spec: FolderSpec | None = None,
    max_pixels: int | None = None,
) -> CategoryScan:
    """Read one category and decode every file, collecting every problem rather than stopping at the first.

    ``layout=None`` detects it (:func:`detect_layout`); ``masks=None`` takes the layout's default; ``category=None``
    takes the folder's name (folder layout) or the root's only category (MVTec layout); ``seed`` draws the held-out
    normal test images of a folder without normal test images.
    """
    root = Path(root).resolve()
    layout = layout or detect_layout(root)
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown dataset layout {layout!r}; accepted: {', '.join(LAYOUTS)}")
    policy = masks or DEFAULT_MASKS[layout]
    name = category or root.name
    try:
        if layout == "mvtec":
            root, name = _mvtec_target(root, category)
        data, problems = _read(root, name, layout, policy, seed=seed, spec=spec)
    except DatasetError as exc:
        found = exc.problems or (DatasetProblem(root, str(exc)),)
        return CategoryScan(root, name, layout, policy, CategoryData(name, layout, (), (), ()), {}, found)
    samples = (*data.train, *data.test)
    outside = _outside(root, samples)
    leaving = {problem.path for problem in outside}
    inside = [sample for sample in samples if sample.path not in leaving and sample.mask_path not in leaving]
    images = scan_images(inside, max_pixels)
    return CategoryScan(root, name, layout, policy, data, images.sizes, (*problems, *outside, *images.problems))


def dataset_info(scan: CategoryScan) -> DatasetInfo:
    """What the registry records of a checked category's data: ``synthetic`` or ``mvtec_ad`` as opened by
    :func:`open_dataset`, else ``own`` with a fingerprint of the files used."""
    if scan.layout == "mvtec":
        if read_dataset_record(scan.root) is not None:
            return open_dataset(scan.root, (scan.category,))
        return mvtec_layout_info(scan.root, (scan.category,))
    return DatasetInfo("own", scan.root, (scan.category,), files_fingerprint(scan.root, scan.data.files), OWN_VERSION)


def open_category(
    root: Path,
    category: str | None = None,
    *,
    layout: Layout | None = None,
    masks: MaskPolicy | None = None,
    seed: int = 0,
    spec: FolderSpec | None = None,
) -> tuple[DatasetInfo, CategoryData]:
    """A category of any layout, checked before any training, and its :class:`DatasetInfo` (arguments as in
    :func:`scan_category`); raises :class:`DatasetError` listing every problem found."""
    scan = scan_category(root, category, layout=layout, masks=masks, seed=seed, spec=spec)
    if scan.problems:
        raise DatasetError.from_problems(scan.problems)
    return dataset_info(scan), scan.data


def read_category(root: Path, category: str, *, layout: Layout, seed: int) -> CategoryData:
    """The samples a run was trained and scored on, listed again without decoding (for pages and indexing): masks
    optional, since a run that required them had them all; the same ``seed`` holds out the same normal test images."""
    data, problems = _read(Path(root), category, layout, "optional", seed=seed)
    if problems:
        raise DatasetError.from_problems(problems)
    return data
