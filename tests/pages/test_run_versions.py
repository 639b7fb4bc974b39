"""The sidebar's version picker: a run's versions learned from false alarms each stay selectable (the undo for a
session), the newest is the default, and Inspect judges and records with the version picked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.modeling.model_table import PATCHCORE
from services.records.query import RecordFilter
from services.records.store import RecordStore
from services.registry.runs import EXPORT_CACHE, METRICS, Run, list_runs, load_run
from services.registry.versions import RunVersion
from services.settings import get_settings
from tests.pages.conftest import PageRegistry

pytestmark = pytest.mark.slow
LEARNED = "ab" * 32


def _add_version(trained: Run) -> Run:
    """A version 2 of ``trained`` beside it, as ``learn_false_alarms`` names and describes one (same model files)."""
    target = trained.path.with_name(f"{trained.record.run}_v2")
    shutil.copytree(trained.path, target, ignore=shutil.ignore_patterns(EXPORT_CACHE))
    metrics = json.loads((target / METRICS).read_text())
    version = RunVersion(
        number=2,
        of=trained.record.run,
        derived_from=trained.record.run,
        added_images=(LEARNED,),
        learned_images=(LEARNED,),
        memory_bank_rows={"before": 10, "added": 2, "after": 12},
        patches="coreset",
        thresholds="kept as calibrated",
    )
    metrics.update(run=target.name, version=version.as_dict(), created_at="2999-01-01T00:00:00+00:00")
    (target / METRICS).write_text(json.dumps(metrics))
    return load_run(target)


def _patchcore_runs() -> list[Run]:
    return [run for run in list_runs(get_settings()) if run.record.model == PATCHCORE.name]


def test_an_earlier_version_is_picked_in_the_sidebar_and_inspect_records_with_it(
    registry_env: PageRegistry, registry_copy: Path, app: AppTest
) -> None:
    (trained,) = _patchcore_runs()
    app.run()
    assert not [box for box in app.sidebar.selectbox if box.key == f"version_{PATCHCORE.name}"], (
        "a run without versions has no picker"
    )
    version = _add_version(trained)
    app.radio(key="model").set_value(PATCHCORE.name)
    app.run()
    assert not app.exception
    picker = app.selectbox(key=f"version_{PATCHCORE.name}")
    assert picker.options == ["v2 · 1 image learned (newest)", "v1 · as trained"]
    assert app.session_state["_selection"].runs[PATCHCORE.name].path == version.path

    picker.set_value(trained.record.run)
    app.run()
    assert app.session_state["_selection"].runs[PATCHCORE.name].path == trained.path
    sample = next((registry_env.dataset_root / "tile" / "test" / "crack").glob("*.png"))
    app.file_uploader(key="inspect_upload").set_value([(sample.name, sample.read_bytes(), "image/png")])
    app.run()
    assert not app.exception
    store = RecordStore(get_settings())
    (record,) = store.query(RecordFilter())
    store.close()
    assert record.run_id == trained.relative_to(get_settings().registry_dir)

    shutil.rmtree(version.path)  # the version undone elsewhere: the picker goes, the trained run is the default
    app.run()
    assert not app.exception
    assert not [box for box in app.sidebar.selectbox if box.key == f"version_{PATCHCORE.name}"]
    assert app.session_state["_selection"].runs[PATCHCORE.name].path == trained.path
