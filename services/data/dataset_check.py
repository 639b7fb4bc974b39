"""``datasets check``: what a dataset folder holds (counts per split and defect type, masks, image sizes, notes) or
every problem with its file, found before any training."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from services.data.category_data import Layout
from services.data.datasets import NORMAL, MaskPolicy, Split
from services.data.errors import DatasetProblem, printable
from services.data.folder_layout import FolderSpec
from services.data.layouts import scan_category


@dataclass(frozen=True)
class DefectCount:
    """How many images of one split and defect type, and how many of them have a mask."""

    split: Split
    defect_type: str
    images: int
    masks: int


@dataclass(frozen=True)
class DatasetReport:
    """A dataset folder checked: counts, distinct upright image sizes (smallest first), notes and every problem."""

    root: Path
    layout: Layout
    category: str
    masks: MaskPolicy
    counts: tuple[DefectCount, ...]
    sizes: tuple[tuple[int, int], ...]
    notes: tuple[str, ...]
    problems: tuple[DatasetProblem, ...]

    @property
    def usable(self) -> bool:
        """True when nothing stands in the way of training."""
        return not self.problems

    def lines(self) -> list[str]:
        """The report as printed by ``python -m services.cli datasets check``."""
        lines = [f"{self.layout} layout, category {self.category} (masks {self.masks}): {printable(str(self.root))}"]
        if self.counts:
            width = max(len("defect type"), *(len(count.defect_type) for count in self.counts))
            lines.append(f"  {'split':<6}{'defect type':<{width + 2}}{'images':>6}{'masks':>7}")
            for count in self.counts:
                masks = "-" if count.defect_type == NORMAL else str(count.masks)
                defect = printable(count.defect_type)
                lines.append(f"  {count.split:<6}{defect:<{width + 2}}{count.images:>6}{masks:>7}")
            defects = [count for count in self.counts if count.defect_type != NORMAL]
            with_masks = sum(count.masks for count in defects)
            lines.append(f"masks: {with_masks} of {sum(count.images for count in defects)} defect images")
        if self.sizes:
            (small_w, small_h), (large_w, large_h) = self.sizes[0], self.sizes[-1]
            lines.append(
                f"image sizes: {len(self.sizes)} distinct, smallest {small_w}x{small_h}, largest {large_w}x{large_h}"
            )
        lines += [f"note: {note}" for note in self.notes]
        if self.usable:
            lines.append("usable: yes")
        else:
            lines.append(f"not usable: {len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}")
            lines += [f"  - {problem}" for problem in self.problems]
        return lines


def check_dataset(
    root: Path,
    layout: Layout | None = None,
    category: str | None = None,
    *,
    masks: MaskPolicy | None = None,
    seed: int = 0,
    spec: FolderSpec | None = None,
    max_pixels: int | None = None,
) -> DatasetReport:
    """Read and check one category (arguments as in :func:`services.data.layouts.scan_category`) without raising on
    its problems: they are all listed in the report."""
    scan = scan_category(root, category, layout=layout, masks=masks, seed=seed, spec=spec, max_pixels=max_pixels)
    samples = (*scan.data.train, *scan.data.test)
    images = Counter((sample.split, sample.defect_type) for sample in samples)
    masked = Counter((sample.split, sample.defect_type) for sample in samples if sample.mask_path is not None)
    order = sorted(images, key=lambda key: (key[0] != "train", key[1] != NORMAL, key[1]))
    counts = tuple(
        DefectCount(split, defect, images[(split, defect)], masked[(split, defect)]) for split, defect in order
    )
    sizes = tuple(sorted(set(scan.sizes.values()), key=lambda size: (size[0] * size[1], size)))
    return DatasetReport(
        scan.root, scan.layout, scan.category, scan.masks, counts, sizes, scan.data.notes, scan.problems
    )
