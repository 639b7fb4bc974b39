"""Writes into a read-only registry are refused before they start, naming the folder; other errors pass as they are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.registry import runs as registry
from services.registry.writable import NotWritableError, ensure_writable
from services.settings import PROJECT_ROOT
from tests.read_only import read_only_argv

TRY_WRITES = """
import sys
from pathlib import Path
from services.registry import runs
from services.registry.writable import ensure_writable
root = Path(sys.argv[1])
for write in (
    lambda: ensure_writable(root / "jobs", "start the job 'Train pcb'"),
    lambda: runs.partial_run(root / "own" / "patchcore" / "pcb" / "r").__enter__(),
    lambda: runs.remove_stale_partials(runs.Settings(registry_dir=root)),
):
    try:
        write()
        print("written")
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}")
"""


def test_a_writable_folder_is_made_and_left_without_a_trace(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "jobs"
    ensure_writable(folder, "start a job")
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_another_failure_than_a_refused_write_is_raised_as_it_is(tmp_path: Path) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("a file where the registry folder should be")
    with pytest.raises(NotADirectoryError):
        ensure_writable(blocker / "jobs", "start a job")


def test_writes_into_a_read_only_registry_name_the_folder_and_change_nothing(tmp_path: Path) -> None:
    root = tmp_path / "models"
    stale = root / "own" / "patchcore" / "pcb" / f"r{registry.PARTIAL_MARK}999999999"
    stale.mkdir(parents=True)
    before = sorted(path.relative_to(root) for path in root.rglob("*"))
    argv = read_only_argv(root, [sys.executable, "-c", TRY_WRITES, str(root)])
    done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    rest = (
        "is not writable (Read-only file system). Inspecting still works; make the folder writable, or set "
        "ANOMALYLENS_REGISTRY to a writable folder"
    )
    assert done.stdout.splitlines() == [
        f"NotWritableError: cannot start the job 'Train pcb': the folder {root / 'jobs'} {rest}",
        f"NotWritableError: cannot write the run r: the folder {stale.parent} {rest}",
        "written",
    ], "a clean-up on a read-only registry leaves the folders it cannot remove"
    assert sorted(path.relative_to(root) for path in root.rglob("*")) == before
    assert issubclass(NotWritableError, ValueError), "pages and the command line show its message as it is"
