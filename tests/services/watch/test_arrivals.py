"""File versions in the watched folder: what a scan lists, arrival order, and since when a version is unchanged."""

from __future__ import annotations

import os
from pathlib import Path

from services.watch.arrivals import ArrivalTracker, FileVersion, current_version, scan


def _write(folder: Path, name: str, data: bytes, mtime_ns: int) -> Path:
    path = folder / name
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_a_scan_lists_image_files_only_in_arrival_order_mtime_then_name(tmp_path: Path) -> None:
    _write(tmp_path, "b.png", b"12", 2_000)
    _write(tmp_path, "a.PNG", b"1", 2_000)
    _write(tmp_path, "c.jpg", b"123", 1_000)
    _write(tmp_path, ".d.png", b"x", 500)  # a writer's hidden temporary file
    _write(tmp_path, "e.png.part", b"x", 500)
    _write(tmp_path, "notes.txt", b"x", 500)
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "f.png", b"x", 500)
    (tmp_path / "link.png").symlink_to(tmp_path / "c.jpg")
    versions = scan(tmp_path)
    assert [(v.name, v.size, v.mtime_ns) for v in versions] == [
        ("c.jpg", 3, 1_000),
        ("a.PNG", 1, 2_000),
        ("b.png", 2, 2_000),
    ]
    assert versions[0].key == (str(tmp_path / "c.jpg"), 3, 1_000)


def test_the_current_version_differs_once_the_file_grows_and_is_none_once_it_is_gone(tmp_path: Path) -> None:
    path = _write(tmp_path, "a.png", b"12", 1_000)
    (version,) = scan(tmp_path)
    assert current_version(version) == version
    with path.open("ab") as file:
        file.write(b"3")
    grown = current_version(version)
    assert grown is not None and grown.size == 3 and grown != version
    path.unlink()
    assert current_version(version) is None


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_version_counts_as_unchanged_from_the_scan_that_first_saw_it(tmp_path: Path) -> None:
    clock = Clock()
    tracker = ArrivalTracker(clock)
    first = FileVersion(1_000, "a.png", 10, tmp_path / "a.png")
    tracker.observe([first])
    clock.now = 100.25
    tracker.observe([first])
    assert tracker.unchanged_for(first) == 0.25
    grown = FileVersion(2_000, "a.png", 20, tmp_path / "a.png")
    clock.now = 100.5
    tracker.observe([grown])
    assert tracker.unchanged_for(grown) == 0.0, "a grown file starts over"
    assert tracker.unchanged_for(first) == 0.0, "the old version is not the file any more"
    clock.now = 101.0
    assert tracker.unchanged_for(grown) == 0.5
    tracker.observe([])
    assert tracker.versions() == [] and tracker.unchanged_for(grown) == 0.0


def test_the_tracker_lists_versions_in_arrival_order(tmp_path: Path) -> None:
    tracker = ArrivalTracker(Clock())
    late, early_b, early_a = (
        FileVersion(3, "a.png", 1, tmp_path / "a.png"),
        FileVersion(1, "b.png", 1, tmp_path / "b.png"),
        FileVersion(1, "a2.png", 1, tmp_path / "a2.png"),
    )
    tracker.observe([late, early_b, early_a])
    assert [version.name for version in tracker.versions()] == ["a2.png", "b.png", "a.png"]
