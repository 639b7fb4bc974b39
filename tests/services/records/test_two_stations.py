"""Several stations, one truth: two app processes inspecting at once into one PostgreSQL database and one registry
keep every record (issue #15). Runs only on PostgreSQL (SQLite serves one server's sessions, not several hosts)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from services.modeling.model_table import PATCHCORE
from services.records.schema import InspectionRow
from services.records.store import RecordStore
from services.settings import PROJECT_ROOT
from tests.conftest import TinyRegistry
from tests.reviewed_records import copy_run, registry_settings

pytestmark = pytest.mark.slow

STATIONS = ("station-a", "station-b")
IMAGES_PER_STATION = 6
WORKER = "tests.services.records.station_worker"


def _start(station: str, go: Path, run: Path, images: list[Path], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", WORKER, str(go), str(run), *map(str, images)],
        cwd=PROJECT_ROOT,
        env={**env, "ANOMALYLENS_STATION": station},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_app_processes_inspecting_at_once_keep_every_record(
    postgres_server: str, tiny_registry: TinyRegistry, postgres_url: str, tmp_path: Path
) -> None:
    settings = registry_settings(tmp_path).with_overrides(database_url=postgres_url, device="cpu")
    run = copy_run(tiny_registry.runs[PATCHCORE.name], settings)
    test_split = tiny_registry.dataset_root / "tile" / "test"
    images = sorted(test_split.rglob("*.png"))[:IMAGES_PER_STATION]
    assert len(images) == IMAGES_PER_STATION
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANOMALYLENS_")}
    env.update(settings.to_env())
    go = tmp_path / "go"
    workers = {station: _start(station, go, run.path, images, env) for station in STATIONS}
    for station, worker in workers.items():
        assert worker.stdout is not None
        line = worker.stdout.readline().strip()
        assert line == "ready", f"{station} did not load its run: {line!r} {worker.communicate(timeout=60)}"
    go.touch()
    outputs = {station: worker.communicate(timeout=600) for station, worker in workers.items()}
    for station, worker in workers.items():
        assert worker.returncode == 0, f"{station}: {outputs[station]}"

    store = RecordStore(settings)
    with store.reading() as connection:
        columns = (InspectionRow.id, InspectionRow.station, InspectionRow.image_name, InspectionRow.recorded_at)
        rows = connection.execute(select(*columns)).all()
    store.close()
    assert len(rows) == len(STATIONS) * IMAGES_PER_STATION
    assert len({row.id for row in rows}) == len(rows)
    assert Counter(row.station for row in rows) == {station: IMAGES_PER_STATION for station in STATIONS}
    spans = {station: [row.recorded_at for row in rows if row.station == station] for station in STATIONS}
    first, second = spans.values()
    assert min(first) < max(second) and min(second) < max(first), f"the stations did not record at once: {spans}"
    for station in STATIONS:
        assert sorted(row.image_name for row in rows if row.station == station) == sorted(i.name for i in images)
    kept = {path.name for path in store.images.root.rglob("*") if path.is_file()}
    assert len(kept) == len({image.read_bytes() for image in images}), "each image is kept once, by its sha256"
    assert not any(name.startswith(".partial-") for name in kept)
    assert store.spool.count() == 0
