"""Run folders: a run holds a checkpoint or an imported IR, and its record says where an imported model came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.registry.runs import IMPORTED_IR, METRICS, RegistryError, RunMetrics, list_runs, load_run, run_dir
from services.settings import Settings

SOURCE = {"kind": "import", "format": "openvino", "file": "exported.xml", "sha256": "ab" * 32}


def _record(**changes: object) -> RunMetrics:
    fields: dict[str, object] = {
        "dataset": "imported",
        "dataset_version": "",
        "dataset_fingerprint": "",
        "model": "patchcore",
        "category": "pcb_connector",
        "run": "imported-abababababab",
        "profile": "imported",
        "metrics": {},
        "thresholds": {},
        "config": {},
        "protocol": {},
        "timings": {},
        "versions": {},
        "created_at": "2026-12-02T00:00:00+00:00",
        "device": "cpu",
    }
    return RunMetrics(**{**fields, **changes})


def test_a_run_without_checkpoint_or_ir_is_refused(tmp_path: Path) -> None:
    (tmp_path / METRICS).write_text(_record().to_json())
    with pytest.raises(RegistryError, match=r"has no model\.ckpt"):
        load_run(tmp_path)


def test_a_run_holding_an_imported_ir_loads_and_is_listed_with_its_source(tmp_path: Path) -> None:
    settings = Settings(registry_dir=tmp_path)
    folder = run_dir(settings, "imported", "patchcore", "pcb_connector", "imported-abababababab")
    folder.mkdir(parents=True)
    (folder / METRICS).write_text(_record(source=SOURCE).to_json())
    (folder / IMPORTED_IR).write_text("<net/>")
    run = load_run(folder)
    assert run.ir == folder / "model.xml" and not run.checkpoint.exists()
    assert run.record.source == SOURCE
    assert [listed.path for listed in list_runs(settings)] == [folder]


def test_records_written_before_imports_read_back_with_an_empty_source(tmp_path: Path) -> None:
    older = _record().to_json().replace('"source": {},', "")
    assert '"source"' not in older
    (tmp_path / METRICS).write_text(older)
    assert RunMetrics.from_file(tmp_path / METRICS).source == {}
