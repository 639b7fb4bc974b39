"""The Live page: whether a watcher runs (its heartbeat), the NG rate over the last N files and the newest verdicts,
drawn from the watcher's records only; names as text; a database that is away is said, never a traceback."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from components.live.watch_records import UNAVAILABLE
from components.shared.style import plain_text
from services.postprocessing.verdict import Verdict
from services.records.store import RecordStore
from services.settings import get_settings
from services.watch.heartbeat import Heartbeat, write_heartbeat
from services.watch.ledger import watch_dir
from tests.pages.conftest import PageRegistry
from tests.services.records.sample_records import sample_record

LIVE = "pages/live.py"
VERDICTS = {  # file → (PatchCore, EfficientAd), oldest first
    "P1_L1.png": (Verdict.OK, Verdict.OK),
    "P2_L1.png": (Verdict.NG, Verdict.OK),
    "<b>P3</b>_L1.png": (Verdict.NG, Verdict.NG),
    "P4_L1.png": (Verdict.OK, Verdict.REVIEW),
}


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def camera(registry_env: PageRegistry, tmp_path: Path) -> Iterator[Path]:
    """A watched folder's name; its heartbeat folder in the shared registry is removed afterwards."""
    folder = tmp_path / "cam1"
    yield folder
    shutil.rmtree(watch_dir(get_settings(), folder, "tile"), ignore_errors=True)


def _heartbeat(folder: Path, age_s: float) -> None:
    updated = datetime.now(UTC) - timedelta(seconds=age_s)
    beat = Heartbeat(
        folder=str(folder),
        category="tile",
        runs={"patchcore": "synthetic/patchcore/tile/r", "efficientad": "synthetic/efficientad/tile/r"},
        station="line-3",
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=(updated - timedelta(minutes=5)).isoformat(),
        updated_at=updated.isoformat(),
        state="watching",
        inspected=4,
        last_file="P4_L1.png",
    )
    write_heartbeat(watch_dir(get_settings(), folder, "tile"), beat)


def _record_watched_files() -> None:
    """The four files as the watcher records them, and one upload recorded by the Inspect page (no operator)."""
    store = RecordStore(get_settings())
    start = datetime.now(UTC) - timedelta(minutes=1)
    records, images = [], {}
    for index, (name, verdicts) in enumerate(VERDICTS.items()):
        data = _png(index)
        digest = hashlib.sha256(data).hexdigest()
        images[digest] = data
        for offset, (model, verdict) in enumerate(zip(("patchcore", "efficientad"), verdicts, strict=True)):
            records.append(
                sample_record(
                    image_name=name,
                    image_sha256=digest,
                    model=model,
                    verdict=verdict,
                    operator="watch",
                    part_id=f"P{index + 1}",
                    lot_id="L1",
                    recorded_at=start + timedelta(seconds=index, milliseconds=offset),
                )
            )
    records.append(replace(records[0], id="upload", image_name="upload.png", operator=None, verdict=Verdict.NG))
    status = store.record(records, images)
    store.close()
    assert status.written == len(records)


def _live(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page(LIVE).run()


def test_a_running_watcher_its_ng_rates_and_newest_verdicts_are_shown(camera: Path, app: AppTest) -> None:
    _record_watched_files()
    _heartbeat(camera, age_s=1)
    app = _live(app)
    assert not app.exception and not app.error
    (running,) = app.success
    assert running.value.startswith("Watcher running (watching): ")
    assert str(camera) in running.value and "4 inspected, 0 rejected" in running.value
    rates = {metric.label: metric.value for metric in app.metric}
    assert rates == {"PatchCore NG rate": "50.0 %", "EfficientAd NG rate": "25.0 %"}  # 2 of 4, 1 of 4
    names = [markdown.value for markdown in app.markdown if markdown.value.startswith("**")]
    assert names == [f"**{plain_text(name)}**" for name in reversed(VERDICTS)], "newest first, names as text"
    assert "<b>" not in names[1]
    lines = [markdown.value for markdown in app.markdown if "-badge[" in markdown.value]
    assert lines[0] == "PatchCore :green-badge[OK] 0.812 · EfficientAd :orange-badge[REVIEW] 0.812"
    assert len(app.image) == 4, "a thumbnail per file, from the kept images"
    assert not any("upload.png" in markdown.value for markdown in app.markdown), "only the watcher's records"


def test_without_a_running_watcher_the_page_says_how_to_start_one(camera: Path, app: AppTest) -> None:
    _heartbeat(camera, age_s=60)
    app = _live(app)
    assert not app.exception and not app.success
    assert [info.value for info in app.info][:1] == [
        "No watcher is running for tile. Start one on the machine that sees the image folder:"
    ]
    assert [code.value for code in app.code] == ["python -m services.cli watch DIR --category tile"]
    assert any(caption.value.startswith("Last watcher (gone): ") for caption in app.caption)
    assert any(info.value == "No file recorded by the watcher for this product yet." for info in app.info)


def test_an_unreachable_records_database_is_said_without_a_traceback(
    camera: Path, app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANOMALYLENS_DATABASE_URL", "postgresql+psycopg://user:secret@127.0.0.1:1/records")
    get_settings.cache_clear()
    app = _live(app)
    assert not app.exception
    assert [warning.value for warning in app.warning] == [UNAVAILABLE]
    assert not any("secret" in caption.value for caption in app.caption)
