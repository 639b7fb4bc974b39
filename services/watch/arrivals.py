"""Which files in the watched folder are complete: each file version is judged by its size and mtime over time.

A writer (a line camera, a PLC, a copy) may still be appending to a file when it first appears. A version (path,
size, mtime) is *quiet* once it has been seen unchanged for ``quiet_s``; only quiet versions are read. Arrival order
is mtime, then name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from services.data.images import SUFFIX_FORMATS

VersionKey = tuple[str, int, int]
"""``(path, size, mtime_ns)``: one version of one file, the ledger's and the records' key."""


@dataclass(frozen=True, order=True)
class FileVersion:
    """A file as one scan saw it; ordered by arrival (mtime, then name)."""

    mtime_ns: int
    name: str
    size: int
    path: Path

    @property
    def key(self) -> VersionKey:
        """What identifies this version: a rewritten file is a new version."""
        return (str(self.path), self.size, self.mtime_ns)


def is_image_name(name: str) -> bool:
    """An accepted image suffix, and not hidden (writers name their temporary files ``.x.png`` or ``x.png.part``)."""
    return not name.startswith(".") and Path(name).suffix.lower() in SUFFIX_FORMATS


def scan(folder: Path) -> list[FileVersion]:
    """The image files directly in ``folder`` (not in its subfolders), in arrival order; one gone mid-scan is left
    out."""
    versions = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_image_name(entry.name):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            versions.append(FileVersion(stat.st_mtime_ns, entry.name, stat.st_size, Path(entry.path)))
    return sorted(versions)


def current_version(version: FileVersion) -> FileVersion | None:
    """The file's version now (``None`` where it is gone): compared after reading, so bytes read while the writer
    was still at work are never taken for the file."""
    try:
        stat = version.path.stat()
    except FileNotFoundError:
        return None
    return FileVersion(stat.st_mtime_ns, version.name, stat.st_size, version.path)


class ArrivalTracker:
    """Remembers since when each file has had its current version (the watcher reads a version once it is quiet)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: dict[str, tuple[FileVersion, float]] = {}

    def observe(self, versions: Iterable[FileVersion]) -> None:
        """Note what a scan saw: a new or changed version starts its quiet time now; vanished files are forgotten."""
        now = self._clock()
        seen: dict[str, tuple[FileVersion, float]] = {}
        for version in versions:
            previous = self._since.get(version.name)
            seen[version.name] = previous if previous is not None and previous[0] == version else (version, now)
        self._since = seen

    def unchanged_for(self, version: FileVersion) -> float:
        """Seconds ``version`` has been seen unchanged (0 for a version not seen by the latest scan)."""
        previous = self._since.get(version.name)
        return self._clock() - previous[1] if previous is not None and previous[0] == version else 0.0

    def versions(self) -> list[FileVersion]:
        """The versions the latest scan saw, in arrival order."""
        return sorted(version for version, _ in self._since.values())
