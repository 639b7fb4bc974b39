"""The watcher's ledger: handled versions survive a restart, it shrinks to the folder's files, one watcher each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import Settings
from services.watch.ledger import Ledger, LedgerEntry, WatchError, watch_dir, watch_id


def _entry(path: str, size: int = 10, **changes: object) -> LedgerEntry:
    values: dict[str, object] = {
        "path": path,
        "size": size,
        "mtime_ns": 1_000,
        "sha256": "ab" * 32,
        "outcome": "recorded",
        "at": "2026-12-02T08:00:00+00:00",
        "verdicts": {"patchcore": "OK"},
    }
    return LedgerEntry(**{**values, **changes})  # type: ignore[arg-type]


def test_entries_round_trip_and_a_line_torn_by_a_crash_is_skipped(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "w")
    recorded = _entry("/in/a.png")
    rejected = _entry("/in/b.png", outcome="rejected", reason="b.png: is not an image", verdicts={})
    ledger.append(recorded)
    ledger.append(rejected)
    with ledger.path.open("a") as file:
        file.write('{"path": "/in/c.png", "si')
    assert ledger.entries() == [recorded, rejected]


def test_loading_keeps_only_versions_still_in_the_folder_and_rewrites_the_file(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "w")
    kept, gone, rewritten = _entry("/in/a.png"), _entry("/in/b.png"), _entry("/in/c.png", size=5)
    for entry in (kept, gone, rewritten):
        ledger.append(entry)
    present = {kept.key, ("/in/c.png", 6, 1_000)}  # c.png was rewritten: another version
    assert ledger.load(present) == {kept.key: kept}
    assert ledger.entries() == [kept]


def test_the_id_names_the_product_and_the_resolved_folder(tmp_path: Path) -> None:
    settings = Settings(registry_dir=tmp_path / "models")
    (tmp_path / "in").mkdir()
    assert watch_id(tmp_path / "in" / ".." / "in", "tile") == watch_id(tmp_path / "in", "tile")
    assert watch_id(tmp_path / "in", "tile").startswith("tile-")
    assert watch_id(tmp_path / "in", "tile") != watch_id(tmp_path / "in", "grid")
    assert watch_dir(settings, tmp_path / "in", "tile").parent == tmp_path / "models" / "records" / "watch"


def test_a_second_watcher_of_the_same_folder_and_product_is_refused_naming_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "w"
    first = Ledger(folder)
    first.lock("folder /in for product 'tile'")
    holder = (
        "import sys\nfrom pathlib import Path\nfrom services.watch.ledger import Ledger, WatchError\n"
        "try:\n    Ledger(Path(sys.argv[1])).lock(\"folder /in for product 'tile'\")\n"
        "except WatchError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", holder, str(folder)], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        f"folder /in for product 'tile' is already being watched (pid {os.getpid()}); stop that watcher first, "
        "or watch another folder"
    )
    first.unlock()
    second = Ledger(folder)
    second.lock("again")  # free once the first let go
    second.unlock()


def test_the_same_process_cannot_take_the_lock_twice(tmp_path: Path) -> None:
    first = Ledger(tmp_path / "w")
    first.lock("folder /in for product 'tile'")
    with pytest.raises(WatchError, match=r"already being watched \(pid \d+\)"):
        Ledger(tmp_path / "w").lock("folder /in for product 'tile'")
    first.unlock()
