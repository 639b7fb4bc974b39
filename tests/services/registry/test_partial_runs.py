"""A run folder is written as a partial sibling and renamed into place: listed complete or not at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.registry import runs as registry
from services.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "w")


def _write_run_files(folder: Path, created_at: str) -> None:
    record = {
        "dataset": "synthetic",
        "dataset_version": "1",
        "dataset_fingerprint": "f",
        "model": "patchcore",
        "category": "tile",
        "run": "r",
        "profile": "demo",
        "metrics": {},
        "thresholds": {},
        "config": {},
        "protocol": {},
        "timings": {},
        "versions": {},
        "created_at": created_at,
        "device": "cpu",
    }
    (folder / registry.METRICS).write_text(json.dumps(record))
    (folder / registry.CHECKPOINT).write_bytes(b"weights " + created_at.encode())


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_is_listed_only_once_its_block_completes(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    final = registry.run_dir(settings, "synthetic", "patchcore", "tile", "r")
    with registry.partial_run(final) as out:
        _write_run_files(out, "2026-01-01T00:00:00+00:00")
        assert out.name == f"r.partial-{os.getpid()}"
        assert registry.list_runs(settings) == []
        assert not final.exists()
    assert [run.path for run in registry.list_runs(settings)] == [final]
    assert list(final.parent.iterdir()) == [final]


def test_a_failed_block_leaves_nothing_and_keeps_the_previous_run(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    final = registry.run_dir(settings, "synthetic", "patchcore", "tile", "r")
    with registry.partial_run(final) as out:
        _write_run_files(out, "2026-01-01T00:00:00+00:00")
    with pytest.raises(RuntimeError, match="fit failed"), registry.partial_run(final) as out:
        _write_run_files(out, "2026-02-02T00:00:00+00:00")
        raise RuntimeError("fit failed")
    assert list(final.parent.iterdir()) == [final]
    assert (final / registry.CHECKPOINT).read_bytes() == b"weights 2026-01-01T00:00:00+00:00"


def test_a_retrained_run_replaces_the_old_folder_whole(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    final = registry.run_dir(settings, "synthetic", "patchcore", "tile", "r")
    with registry.partial_run(final) as out:
        _write_run_files(out, "2026-01-01T00:00:00+00:00")
        (out / "stale.txt").write_text("from the first run")
    with registry.partial_run(final) as out:
        _write_run_files(out, "2026-02-02T00:00:00+00:00")
    assert sorted(p.name for p in final.iterdir()) == sorted([registry.CHECKPOINT, registry.METRICS])
    assert registry.load_run(final).record.created_at == "2026-02-02T00:00:00+00:00"
    assert list(final.parent.iterdir()) == [final]


def test_stale_partial_folders_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    category = settings.registry_dir / "synthetic" / "patchcore" / "tile"
    dead = category / f"r{registry.PARTIAL_MARK}{_dead_pid()}"
    live = category / f"q{registry.PARTIAL_MARK}{os.getpid()}"
    for folder in (dead, live):
        folder.mkdir(parents=True)
        _write_run_files(folder, "2026-01-01T00:00:00+00:00")
    assert registry.list_runs(settings) == []
    assert registry.remove_stale_partials(settings) == [dead]
    assert not dead.exists() and live.is_dir()
