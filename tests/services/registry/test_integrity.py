"""A run's model files against its manifest: a changed checkpoint is refused with the reason, hashed once per change."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from services.inference.detector import Detector
from services.registry import integrity
from services.registry import runs as registry
from services.registry.integrity import ModelIntegrityError, check_model, usable_runs, verify_model
from services.settings import Settings
from services.similarity.residual_embedder import PatchcoreResidualEmbedder
from tests.fake_runs import record, write_run

PLACEHOLDER_SHA = hashlib.sha256(b"placeholder").hexdigest()
CHANGED_SHA = hashlib.sha256(b"placeholder, overwritten").hexdigest()


def _run(registry_dir: Path, category: str = "tile") -> registry.Run:
    run = write_run(registry_dir, record(category))
    registry.write_manifest(run.path)
    return run


def test_an_unchanged_run_passes_and_a_changed_checkpoint_is_refused_naming_both_sha256(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert check_model(run).ok and check_model(run).reason == ""
    run.checkpoint.write_bytes(b"placeholder, overwritten")
    refused = check_model(run)
    assert refused.changed == (
        f"its model.ckpt changed after the run was written (sha256 {CHANGED_SHA[:12]}…, "
        f"the manifest records {PLACEHOLDER_SHA[:12]}…)",
    )
    assert refused.reason.startswith(f"run {run.path} is refused: its model.ckpt changed")
    assert refused.reason.endswith("restore that file, or train the run again")
    with pytest.raises(ModelIntegrityError, match=r"is refused: its model\.ckpt changed") as raised:
        verify_model(run)
    assert isinstance(raised.value, registry.RegistryError)
    run.checkpoint.write_bytes(b"placeholder")
    assert check_model(run).ok, "the restored file passes again"


def test_a_missing_or_unlisted_model_file_and_an_unreadable_manifest_are_refused(tmp_path: Path) -> None:
    run = _run(tmp_path)
    (run.path / registry.IMPORTED_IR).write_text("<net/>")
    assert check_model(run).changed == (
        "its model.xml is not in its manifest.json: the file was added after the run was written",
    )
    (run.path / registry.IMPORTED_IR).unlink()
    run.checkpoint.unlink()
    assert check_model(run).changed == (f"its model.ckpt is missing (the manifest records {PLACEHOLDER_SHA[:12]}…)",)
    (run.path / registry.MANIFEST).write_text('{"model.ckpt": ')
    assert check_model(run).changed[0].startswith("its manifest.json cannot be read (")


def test_a_run_written_before_manifests_passes(tmp_path: Path) -> None:
    run = write_run(tmp_path, record("tile"))
    run.checkpoint.write_bytes(b"anything")
    assert check_model(run).ok


def test_a_file_is_hashed_again_only_when_its_time_or_size_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(tmp_path)
    hashed: list[Path] = []
    real = integrity.file_sha256
    monkeypatch.setattr(integrity, "file_sha256", lambda path: hashed.append(path) or real(path))
    integrity._sha256.cache_clear()
    for _ in range(5):
        assert check_model(run).ok
    assert hashed == [run.checkpoint]
    stat = run.checkpoint.stat()
    os.utime(run.checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert check_model(run).ok
    assert hashed == [run.checkpoint, run.checkpoint]


def test_only_the_changed_run_is_refused_the_others_stay_usable(tmp_path: Path) -> None:
    tile, grid = _run(tmp_path, "tile"), _run(tmp_path, "grid")
    grid.checkpoint.write_bytes(b"placeholder, overwritten")
    usable, refused = usable_runs({"tile": tile, "grid": grid})
    assert usable == {"tile": tile}
    assert [check.run_path for check in refused] == [grid.path]


def test_the_detector_and_the_residual_embedder_refuse_a_changed_checkpoint_before_reading_it(tmp_path: Path) -> None:
    """The placeholder is no checkpoint at all: only the integrity check can raise this error."""
    run = _run(tmp_path)
    run.checkpoint.write_bytes(b"placeholder, overwritten")
    settings = Settings(data_root=tmp_path / "data", registry_dir=tmp_path, weights_dir=tmp_path / "w")
    with pytest.raises(ModelIntegrityError, match=re.escape(f"run {run.path} is refused: its model.ckpt changed")):
        Detector(run, settings, device="cpu")
    with pytest.raises(ModelIntegrityError, match=r"its model\.ckpt changed"):
        PatchcoreResidualEmbedder(run, images=None)  # type: ignore[arg-type]


def test_refreshing_the_metrics_entry_keeps_a_changed_checkpoint_refused(tmp_path: Path) -> None:
    """Re-indexing rewrites metrics.json and its manifest entry; it must not bless a changed checkpoint."""
    run = _run(tmp_path)
    run.checkpoint.write_bytes(b"placeholder, overwritten")
    (run.path / registry.METRICS).write_text(run.record.to_json() + "\n")
    manifest = registry.refresh_manifest(run.path, [registry.METRICS])
    assert manifest[registry.CHECKPOINT] == PLACEHOLDER_SHA
    assert manifest[registry.METRICS] == hashlib.sha256(run.record.to_json().encode() + b"\n").hexdigest()
    assert not check_model(run).ok
