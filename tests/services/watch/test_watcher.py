"""The folder watcher end to end on the tiny registry, on SQLite and PostgreSQL: a burst of 200 files written by
another process (some slowly, in chunks) is recorded exactly once each, in arrival order; a restart records nothing
new; a file cut short is inspected once complete; a file the decoder refuses is rejected once."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.inference.detector import Detector
from services.records.query import RecordFilter
from services.records.record import InspectionRecord
from services.records.store import RecordStore
from services.registry.runs import Run
from services.settings import Settings
from services.watch.arrivals import scan
from services.watch.heartbeat import read_heartbeats
from services.watch.inspector import WATCH_OPERATOR
from services.watch.latest import WatchedFile, latest_files
from services.watch.ledger import Ledger, watch_dir
from services.watch.watcher import WatchConfig, Watcher

BURST = 200
WRITER = r"""
import sys, time
from pathlib import Path

source, target = Path(sys.argv[1]), Path(sys.argv[2])
for i, path in enumerate(sorted(source.iterdir())):
    data = path.read_bytes()
    if i % 10 != 3:
        (target / path.name).write_bytes(data)
        continue
    with (target / path.name).open("wb") as file:  # written slowly: three chunks, 0.1 s apart
        third = len(data) // 3
        for chunk in (data[:third], data[third : 2 * third], data[2 * third :]):
            file.write(chunk)
            file.flush()
            time.sleep(0.1)
"""


def torch_detector(run: Run, settings: Settings) -> Detector:
    """The pages' Detector on torch (the auto backend's timing probe would add seconds per load to each test)."""
    return Detector(run, settings, backend="torch")


def image_bytes(seed: int, suffix: str = ".png", size: int = 40) -> bytes:
    """A small seeded noise image in the suffix's format."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    return buffer.getvalue()


class Running:
    """A watcher running in a thread, with the lines it printed and the error it stopped on."""

    def __init__(self, watcher: Watcher, lines: list[str]) -> None:
        self.watcher = watcher
        self.lines = lines
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # re-raised by the test through wait_for / stop
            self.error = exc

    def wait_for(self, condition: Callable[[], bool], timeout: float = 600.0) -> None:
        """Until ``condition`` holds (the generous timeout is for a shared, busy machine; unloaded it takes seconds)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.error is not None:
                raise self.error
            assert time.monotonic() < deadline, f"timed out; printed: {self.lines[-5:]}"
            time.sleep(0.05)

    def settle(self, scans: int = 3) -> None:
        """Wait for a few more scans (at most a second apart while nothing is due)."""
        target = self.watcher.counters.scans + scans
        self.wait_for(lambda: self.watcher.counters.scans >= target)

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


Start = Callable[..., Running]


@pytest.fixture
def start(watch_settings: Settings, inbox: Path) -> Iterator[Start]:
    """Starts a watcher of ``inbox`` for tile in a thread (returned once it has scanned); every one is stopped at
    the end, whatever the test did."""
    started: list[Running] = []

    def start(models: tuple[str, ...] = (), settle_s: float = 5.0) -> Running:
        lines: list[str] = []
        config = WatchConfig(folder=inbox, category="tile", models=models, quiet_s=0.3, settle_s=settle_s)
        running = Running(Watcher(config, watch_settings, factory=torch_detector, out=lines.append), lines)
        started.append(running)
        running.wait_for(lambda: running.watcher.counters.scans > 0)
        return running

    yield start
    for running in started:
        running.watcher.stop()
        running.thread.join(timeout=120)


def watch_records(settings: Settings) -> list[InspectionRecord]:
    store = RecordStore(settings)
    try:
        return store.query(RecordFilter(limit=10 * BURST))
    finally:
        store.close()


def live_files(settings: Settings, last_n: int) -> list[WatchedFile]:
    store = RecordStore(settings)
    try:
        return latest_files(store, "tile", last_n)
    finally:
        store.close()


def test_a_burst_of_200_files_from_another_process_is_recorded_once_each_in_arrival_order_and_a_restart_adds_none(
    watch_settings: Settings, inbox: Path, tmp_path: Path, start: Start
) -> None:
    source = tmp_path / "camera"
    source.mkdir()
    names = [f"P{i:03d}_L{i // 50}{'.jpg' if i % 7 == 0 else '.png'}" for i in range(BURST)]
    for i, name in enumerate(names):
        (source / name).write_bytes(image_bytes(i, Path(name).suffix))
    running = start(models=("patchcore",))  # one model: the burst is about files, not models (see below for both)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(inbox)])
    assert writer.wait(timeout=120) == 0
    running.wait_for(lambda: running.watcher.counters.inspected >= BURST)
    running.settle()
    running.stop()

    assert [version.name for version in scan(inbox)] == names, "arrival order (mtime, then name) is the write order"
    records = sorted(watch_records(watch_settings), key=lambda record: record.recorded_at)
    assert [record.image_name for record in records] == names, "every file once, in arrival order"
    assert {record.model for record in records} == {"patchcore"}
    assert {(record.operator, record.station, record.product) for record in records} == {
        (WATCH_OPERATOR, "line-3", "tile")
    }
    first = next(record for record in records if record.image_name == "P057_L1.png")
    assert (first.part_id, first.lot_id) == ("P057", "L1")
    assert first.image_sha256 == hashlib.sha256(image_bytes(57)).hexdigest()
    newest = live_files(watch_settings, 10)
    assert [file.image_name for file in newest] == names[::-1][:10], "the Live page's newest files"
    ledger = Ledger(watch_dir(watch_settings, inbox, "tile")).entries()
    assert [Path(entry.path).name for entry in ledger] == names
    assert {entry.outcome for entry in ledger} == {"recorded"}
    assert len(running.lines) == BURST + 2, "a line per file, after the loading and watching lines"
    assert running.lines[2].startswith(f"{names[0]}  patchcore ") and running.lines[2].endswith(" ms")
    assert running.watcher.counters.rejected == 0
    (beat,) = [beat for beat in read_heartbeats(watch_settings) if beat.folder == str(inbox.resolve())]
    assert (beat.state, beat.inspected, beat.waiting) == ("stopped", BURST, 0)

    again = start(models=("patchcore",))
    again.settle()
    again.stop()
    assert again.watcher.counters.inspected == 0
    assert f"{BURST} file(s) already handled" in again.lines[1]
    assert len(again.lines) == 2
    assert len(watch_records(watch_settings)) == BURST


def test_a_file_cut_short_waits_unrecorded_and_is_inspected_once_complete_by_every_model(
    watch_settings: Settings, inbox: Path, start: Start
) -> None:
    data = image_bytes(1)
    running = start()
    path = inbox / "P001_L1.png"
    with path.open("wb") as file:
        file.write(data[: len(data) // 2])
    time.sleep(1.0)  # over three times the quiet time
    running.settle()  # quiet, and truncated: it waits, neither recorded nor rejected
    assert running.watcher.counters.waiting == 1
    assert (running.watcher.counters.inspected, running.watcher.counters.rejected) == (0, 0)
    with path.open("ab") as file:
        file.write(data[len(data) // 2 :])
    running.wait_for(lambda: running.watcher.counters.inspected == 1)
    running.settle()
    running.stop()
    records = watch_records(watch_settings)
    assert sorted((record.image_name, record.model) for record in records) == [
        ("P001_L1.png", "efficientad"),
        ("P001_L1.png", "patchcore"),
    ]
    (line,) = running.lines[2:]
    verdicts = {record.model: f"{record.verdict.value} {record.score:.3f}" for record in records}
    assert line.startswith(f"P001_L1.png  patchcore {verdicts['patchcore']}")
    assert f" · efficientad {verdicts['efficientad']}" in line and line.endswith(" ms")
    assert running.watcher.counters.rejected == 0


def test_a_file_the_decoder_refuses_is_rejected_once_with_its_reason_and_read_again_once_replaced(
    watch_settings: Settings, inbox: Path, start: Start
) -> None:
    running = start(models=("patchcore",), settle_s=1.0)
    (inbox / "page.png").write_text("<html><body>not an image</body></html>")
    running.wait_for(lambda: running.watcher.counters.rejected == 1)
    running.settle(5)
    rejected = [line for line in running.lines if "rejected" in line]
    assert rejected == [
        "page.png  rejected: page.png: is not an image (no PNG, JPEG, BMP or TIFF signature); accepted: PNG, JPEG, "
        "BMP, TIFF up to 50,000,000 pixels"
    ]
    (entry,) = Ledger(watch_dir(watch_settings, inbox, "tile")).entries()
    assert (entry.outcome, entry.reason) == ("rejected", rejected[0].removeprefix("page.png  rejected: "))
    assert watch_records(watch_settings) == []

    time.sleep(0.02)  # a later mtime: the replaced file is another version
    (inbox / "page.png").write_bytes(image_bytes(3))
    running.wait_for(lambda: running.watcher.counters.inspected == 1)
    running.stop()
    assert [record.image_name for record in watch_records(watch_settings)] == ["page.png"]
