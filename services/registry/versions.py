"""Run versions: a run that learned from review decisions without retraining, beside the run it came from.

A version is a run folder of its own, ``<run>_v2``, ``<run>_v3``, … next to the trained run ``<run>`` (version 1),
so every version stays listed and selectable, and the newest is the product's default run
(:func:`services.registry.runs.latest_runs`). Its ``metrics.json`` says what it derives from and which images it
learned (:class:`RunVersion`). Undoing a version is removing its folder (:func:`remove_version`); a trained run is
never removed that way.
"""

from __future__ import annotations

import fcntl
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from services.registry.runs import PARTIAL_MARK, Run, RunMetrics, load_run

VERSION_SUFFIX = re.compile(r"_v([0-9]+)$")
LOCK_FILE = ".versions.lock"


class VersionError(ValueError):
    """A version that cannot be made or removed; the message names the run and the rule."""


@dataclass(frozen=True)
class RunVersion:
    """How a version was made: from which run, with which images, what became of the memory bank and thresholds."""

    number: int
    of: str
    """The trained run's name (version 1)."""
    derived_from: str
    """The run (name) this version was made from: the trained run or an earlier version."""
    added_images: tuple[str, ...]
    """sha256 of the images this version added (bytes in the records' image store)."""
    learned_images: tuple[str, ...]
    """sha256 of every image learned since the trained run, this version's included."""
    memory_bank_rows: dict[str, int]
    """``before``, ``added`` and ``after``."""
    patches: str
    """Which of each image's patches were added (``coreset`` or ``all``)."""
    thresholds: str
    """What became of the thresholds, in words."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``metrics.json`` → ``version``)."""
        return {**asdict(self), "added_images": list(self.added_images), "learned_images": list(self.learned_images)}

    @classmethod
    def of_record(cls, record: RunMetrics) -> RunVersion | None:
        """The version a run's record describes; ``None`` for a trained run."""
        if not record.version:
            return None
        values = dict(record.version)
        images = {key: tuple(values[key]) for key in ("added_images", "learned_images")}
        return cls(**{**values, **images})


def base_name(run: Run) -> str:
    """The trained run's name that ``run`` is a version of (its own name for a trained run)."""
    version = RunVersion.of_record(run.record)
    return version.of if version is not None else run.record.run


def learned_images(run: Run) -> tuple[str, ...]:
    """Every image ``run`` learned since its trained run (empty for a trained run)."""
    version = RunVersion.of_record(run.record)
    return version.learned_images if version is not None else ()


def version_numbers(folder: Path, base: str) -> list[int]:
    """The numbers of the complete versions of ``base`` in a category folder."""
    numbers = []
    for path in folder.glob(f"{base}_v*"):
        found = VERSION_SUFFIX.search(path.name)
        if found and path.name == f"{base}_v{found.group(1)}" and PARTIAL_MARK not in path.name:
            numbers.append(int(found.group(1)))
    return sorted(numbers)


def lineage(run: Run) -> list[Run]:
    """Every complete version of ``run``'s trained run, newest first, ending with the trained run (where it is still
    there): what a user may pick instead of the newest, e.g. to go back to the version before a false alarm."""
    folder, base = run.path.parent, base_name(run)
    found = []
    for path in [*(folder / f"{base}_v{number}" for number in reversed(version_numbers(folder, base))), folder / base]:
        try:
            found.append(load_run(path))
        except (ValueError, OSError):  # removed meanwhile (an undo) or unreadable: not offered
            continue
    return found


def version_label(run: Run) -> str:
    """``v3 · 2 images learned`` for a version, ``v1 · as trained`` for a trained run."""
    version = RunVersion.of_record(run.record)
    if version is None:
        return "v1 · as trained"
    count = len(version.learned_images)
    return f"v{version.number} · {count} image{'s' if count != 1 else ''} learned"


@contextmanager
def next_version(run: Run) -> Iterator[tuple[Path, int]]:
    """The folder and number of the next version of ``run``'s trained run, held under a lock on the category folder
    until the block ends, so two processes never write the same version."""
    folder, base = run.path.parent, base_name(run)
    with (folder / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            number = max([1, *version_numbers(folder, base)]) + 1
            yield folder / f"{base}_v{number}", number
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_version(run: Run) -> None:
    """Undo a version: remove its folder, so the version it came from (or the trained run) is the newest again.
    A trained run is refused: it is no version, and retraining is its undo."""
    if RunVersion.of_record(run.record) is None:
        raise VersionError(f"run {run.record.run} is a trained run, not a version learned from reviews; it is kept")
    shutil.rmtree(run.path)
