"""Folder layout, like anomalib's ``Folder`` datamodule: a normal folder, one folder per defect type, optional masks
matched by file stem and optional normal test images::

    DIR/good/*                              normal images (``normal_dir``)
    DIR/good_test/*                         normal test images, optional (``normal_test_dir``)
    DIR/<defect>/*                          defect images; the folder name is the defect type
    DIR/masks/<defect>/<stem>.*, DIR/masks/<stem>.*    masks, optional, also named ``<stem>_mask.*``

Without normal test images a seeded part of the normal images is held out for testing, and the notes say so.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import numpy as np

from services.data.categories import check_category_name
from services.data.category_data import (
    MIN_FIT_NORMALS,
    MIN_TRAIN_NORMALS,
    CategoryData,
    defect_notes,
    too_few_normals,
)
from services.data.datasets import IMAGE_SUFFIXES, NORMAL, MaskPolicy, Sample, image_files, subfolders
from services.data.errors import DatasetError, DatasetProblem

MASK_STEM_SUFFIX = "_mask"
MaskKey = tuple[str | None, str]
"""(defect folder under the mask folder, or None for a mask directly in it; image stem)."""


@dataclass(frozen=True)
class FolderSpec:
    """Which folders of a folder-layout root hold what; ``abnormal_dirs=None`` takes every other folder."""

    normal_dir: str = NORMAL
    abnormal_dirs: tuple[str, ...] | None = None
    mask_dir: str = "masks"
    normal_test_dir: str = "good_test"
    test_fraction: float = 0.2

    def layout_text(self) -> str:
        """The expected layout, for error messages."""
        return (
            f"{self.normal_dir}/ with the normal images, one folder per defect type, optionally {self.mask_dir}/ "
            f"and {self.normal_test_dir}/ (accepted files: {', '.join(IMAGE_SUFFIXES)})"
        )


def held_out_for_test(n_normals: int, fraction: float) -> int:
    """Normal images held out for testing when there are no normal test images: ``fraction`` of them, at least one,
    as long as :data:`MIN_FIT_NORMALS` stay for training; else none."""
    held = max(1, round(n_normals * fraction))
    return held if n_normals - held >= MIN_FIT_NORMALS else 0


def normals_needed(fraction: float, has_normal_test: bool) -> int:
    """The fewest normal images a folder needs: enough to train and calibrate, plus the test hold-out if any."""
    if has_normal_test:
        return MIN_TRAIN_NORMALS
    return next(n for n in count(1) if n - held_out_for_test(n, fraction) >= MIN_TRAIN_NORMALS)


def _mask_index(mask_root: Path) -> dict[MaskKey, list[Path]]:
    index: dict[MaskKey, list[Path]] = defaultdict(list)
    if not mask_root.is_dir():
        return index
    for path in image_files(mask_root):
        index[(None, path.stem.removesuffix(MASK_STEM_SUFFIX))].append(path)
    for folder in subfolders(mask_root):
        for path in image_files(folder):
            index[(folder.name, path.stem.removesuffix(MASK_STEM_SUFFIX))].append(path)
    return index


def _expected_mask(mask_root: Path, defect: str, image: Path) -> str:
    return (
        f"{mask_root / defect / image.stem}.png or {mask_root / image.stem}.png (any image suffix, "
        f"'{MASK_STEM_SUFFIX}' after the stem accepted)"
    )


def _defect_samples(
    root: Path, defect_dirs: list[Path], mask_root: Path, masks: MaskPolicy
) -> tuple[list[Sample], list[DatasetProblem]]:
    """Defect samples with the mask of each, if any; problems for ambiguous, missing (when required) or orphan masks."""
    index = _mask_index(mask_root)
    images = [(folder.name, image) for folder in defect_dirs for image in image_files(folder)]
    stems = Counter(image.stem for _, image in images)
    problems: list[DatasetProblem] = []
    shared = {key for key in index if key[0] is None and stems[key[1]] > 1}
    for key in sorted(shared, key=lambda item: item[1]):
        holders = ", ".join(f"{defect}/{image.name}" for defect, image in images if image.stem == key[1])
        for path in index[key]:
            message = (
                f"mask {path} matches several defect images ({holders}): expected it in {mask_root}/<defect>/ "
                "beside the defect folder of its image"
            )
            problems.append(DatasetProblem(path, message))
    used: set[MaskKey] = set(shared)
    samples: list[Sample] = []
    for defect, image in images:
        key: MaskKey = (defect, image.stem) if (defect, image.stem) in index else (None, image.stem)
        found = [] if key in shared else index.get(key, [])
        used.add(key)
        if len(found) > 1:
            names = ", ".join(str(path) for path in found)
            message = f"defect image {image} has {len(found)} masks ({names}): expected one"
            problems.append(DatasetProblem(image, message))
        elif not found and masks == "required" and key not in shared:
            message = f"defect image {image} has no mask: expected {_expected_mask(mask_root, defect, image)}"
            problems.append(DatasetProblem(image, message))
        samples.append(Sample(image, "test", defect, found[0] if len(found) == 1 else None))
    for (defect, stem), paths in sorted(index.items(), key=lambda item: str(item[1][0])):
        if (defect, stem) in used:
            continue
        where = root / defect if defect else "one of the defect folders"
        for path in paths:
            message = f"mask {path} has no defect image: expected an image {stem}.* in {where}"
            problems.append(DatasetProblem(path, message))
    return samples, problems


def _defect_dirs(root: Path, spec: FolderSpec) -> tuple[list[Path], list[DatasetProblem]]:
    if spec.abnormal_dirs is None:
        reserved = {spec.normal_dir, spec.mask_dir, spec.normal_test_dir}
        return [folder for folder in subfolders(root) if folder.name not in reserved], []
    folders = [root / name for name in spec.abnormal_dirs]
    problems = [
        DatasetProblem(folder, f"missing defect folder {folder}: it was given as a folder of defect images")
        for folder in folders
        if not folder.is_dir()
    ]
    return [folder for folder in folders if folder.is_dir()], problems


def _split_normals(normals: list[Path], spec: FolderSpec, seed: int) -> tuple[list[Path], list[Path], tuple[str, ...]]:
    """Train and test normals when there is no normal test folder: a seeded hold-out, and the note saying so."""
    held = held_out_for_test(len(normals), spec.test_fraction)
    if not held:
        return normals, [], ()
    chosen = set(np.random.default_rng(seed).permutation(len(normals))[:held].tolist())
    train = [path for index, path in enumerate(normals) if index not in chosen]
    test = [path for index, path in enumerate(normals) if index in chosen]
    note = (
        f"no normal test images ({spec.normal_test_dir}/): {held} of the {len(normals)} normal images are held out "
        f"for testing (seed {seed}), {len(train)} train"
    )
    return train, test, (note,)


def read_folder(
    root: Path,
    category: str,
    *,
    spec: FolderSpec | None = None,
    masks: MaskPolicy = "optional",
    seed: int = 0,
) -> tuple[CategoryData, list[DatasetProblem]]:
    """One category in folder layout and every problem of its layout and masks, files not decoded; raises
    :class:`DatasetError` only for an unsafe category name or a root that is not a folder."""
    spec = spec or FolderSpec()
    root = Path(root)
    check_category_name(category)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} is not a folder: expected {spec.layout_text()}")
    normal_dir, test_dir = root / spec.normal_dir, root / spec.normal_test_dir
    normals = image_files(normal_dir) if normal_dir.is_dir() else []
    test_normals = image_files(test_dir) if test_dir.is_dir() else []
    defect_dirs, problems = _defect_dirs(root, spec)
    defects, mask_problems = _defect_samples(root, defect_dirs, root / spec.mask_dir, masks)
    problems += mask_problems
    if not (normals or test_normals or defects):
        message = f"empty folder {root}: no image files in it or its folders; expected {spec.layout_text()}"
        return CategoryData(category, "folder", (), (), ()), [*problems, DatasetProblem(root, message)]
    if test_normals:
        train, held, notes = normals, test_normals, ()
    else:
        train, held, notes = _split_normals(normals, spec, seed)
    needed = normals_needed(spec.test_fraction, bool(test_normals))
    if not normal_dir.is_dir():
        message = f"missing normal folder {normal_dir}: expected at least {needed} normal (defect-free) images in it"
        problems.append(DatasetProblem(normal_dir, message))
    elif len(normals) < needed:
        hold_out = 0 if test_normals else held_out_for_test(needed, spec.test_fraction)
        problems.append(too_few_normals(normal_dir, len(normals), needed, hold_out))
    test = (*(Sample(path, "test", NORMAL, None) for path in held), *defects)
    data = CategoryData(
        category=category,
        layout="folder",
        train=tuple(Sample(path, "train", NORMAL, None) for path in train),
        test=test,
        notes=(*notes, *defect_notes(test)),
    )
    return data, problems
