"""A run folder is written as a partial sibling and renamed into place: listed complete or not at all."""

from __future__ import annotations

import json
import os
import signal
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


WRITER = """
import os, sys, time
from pathlib import Path
from services.registry import runs
final, stop_at = Path(sys.argv[1]), sys.argv[2]
real_replace = os.replace

def replace_then_stop(source, target):
    real_replace(source, target)
    print("between the renames", flush=True)
    time.sleep(600)

if stop_at == "between the renames":
    os.replace = replace_then_stop
with runs.partial_run(final) as out:
    (out / runs.METRICS).write_text(sys.argv[3])
    with (out / runs.CHECKPOINT).open("wb") as checkpoint:
        checkpoint.write(b"half of the new weights")
        checkpoint.flush()
        if stop_at == "writing the checkpoint":
            print("writing the checkpoint", flush=True)
            time.sleep(600)
"""


def _killed_writer(final: Path, stop_at: str, record_text: str) -> int:
    """A real process writing a run through ``partial_run``, killed with SIGKILL at ``stop_at``; returns its pid."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(final), stop_at, record_text],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(registry.__file__).parents[2],
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == stop_at
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    return writer.pid


@pytest.mark.parametrize("stop_at", ["writing the checkpoint", "between the renames"])
def test_a_writer_killed_by_sigkill_never_shows_a_half_written_run_and_the_next_start_restores_the_old_one(
    tmp_path: Path, stop_at: str
) -> None:
    settings = _settings(tmp_path)
    final = registry.run_dir(settings, "synthetic", "patchcore", "tile", "r")
    with registry.partial_run(final) as out:
        _write_run_files(out, "2026-01-01T00:00:00+00:00")
    newer = json.loads((final / registry.METRICS).read_text()) | {"created_at": "2026-02-02T00:00:00+00:00"}
    pid = _killed_writer(final, stop_at, json.dumps(newer))
    left = sorted(path.name for path in final.parent.iterdir())
    if stop_at == "writing the checkpoint":
        assert left == ["r", f"r.partial-{pid}"]
        assert [run.record.created_at for run in registry.list_runs(settings)] == ["2026-01-01T00:00:00+00:00"]
    else:
        assert left == [f"r.partial-{pid}", f"r.partial-{pid}-replaced"]
        assert registry.list_runs(settings) == [], "between the renames there is no run, never a half-written one"
    assert registry.remove_stale_partials(settings) == [final.with_name(f"r.partial-{pid}")]
    assert [path.name for path in final.parent.iterdir()] == ["r"]
    assert [run.record.created_at for run in registry.list_runs(settings)] == ["2026-01-01T00:00:00+00:00"]
    assert (final / registry.CHECKPOINT).read_bytes() == b"weights 2026-01-01T00:00:00+00:00"


def test_the_next_run_written_after_a_killed_one_cleans_what_it_left(tmp_path: Path) -> None:
    """Training from the command line (no job worker) cleans up too: ``partial_run`` starts by cleaning."""
    settings = _settings(tmp_path)
    final = registry.run_dir(settings, "synthetic", "patchcore", "tile", "r")
    final.parent.mkdir(parents=True)
    _killed_writer(final, "writing the checkpoint", "{}")
    assert len(list(final.parent.iterdir())) == 1
    with registry.partial_run(final.with_name("q")) as out:
        _write_run_files(out, "2026-03-03T00:00:00+00:00")
        assert sorted(path.name for path in final.parent.iterdir()) == [out.name]
    assert [run.path.name for run in registry.list_runs(settings)] == ["q"]
