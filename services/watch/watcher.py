"""``Watcher``: a folder watched for new image files, each inspected once complete, recorded and printed.

A scan runs when watchdog reports a change in the folder, and at least every :data:`RESCAN_S` (events can be
missed, e.g. on network shares). A file version is read once it has been unchanged for ``quiet_s``; it is inspected
when it decodes and the file did not change while being read. One that does not decode may still be arriving (a
PNG or JPEG cut short reads as truncated), so it waits; only once it has stayed unchanged for ``settle_s`` is it
rejected, once, with the decoder's reason, and a later change to the file makes it a new version, read again.
Handled versions go to the ledger after their records, so a restart skips them.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from services.data.errors import printable
from services.data.images import ImageInputError, load_image
from services.inference.detector import Detector
from services.records.store import RecordStatus, RecordStore
from services.settings import Settings
from services.watch.arrivals import ArrivalTracker, FileVersion, VersionKey, current_version, scan
from services.watch.heartbeat import BEAT_S, Heartbeat, now_text, write_heartbeat
from services.watch.inspector import CompleteFile, DetectorFactory, FileInspection, FolderInspector, default_runs
from services.watch.ledger import Ledger, LedgerEntry, WatchError, watch_dir

RESCAN_S = 1.0
"""The longest wait between two scans."""
MIN_RESCAN_S = 0.05
"""The shortest: a burst of file events does not make the watcher scan without pause."""
BATCH = 16
"""Files scored together at most: a burst is scored in batches, each file still recorded and printed in order."""
BATCH_PIXELS = 64_000_000
"""Pixels decoded and held at once at most (a batch of large line-camera images is cut short at this)."""
QUIET_RANGE = (0.05, 60.0)
SETTLE_MAX_S = 3600.0


@dataclass(frozen=True)
class WatchConfig:
    """What to watch and how patiently: ``quiet_s`` unchanged before a file is read, ``settle_s`` unchanged before
    one that does not decode is rejected."""

    folder: Path
    category: str
    models: tuple[str, ...] = ()
    """Empty: every model with a run for the product."""
    dataset: str | None = None
    quiet_s: float = 0.5
    settle_s: float = 5.0

    def __post_init__(self) -> None:
        low, high = QUIET_RANGE
        if not (math.isfinite(self.quiet_s) and low <= self.quiet_s <= high):
            raise WatchError(f"--quiet {self.quiet_s!r} is out of range: give seconds from {low} to {high}")
        if not (math.isfinite(self.settle_s) and self.quiet_s <= self.settle_s <= SETTLE_MAX_S):
            raise WatchError(
                f"--settle {self.settle_s!r} is out of range: give seconds from --quiet ({self.quiet_s}) to "
                f"{SETTLE_MAX_S:g}"
            )


class RecordsLostError(RuntimeError):
    """The records database and the local spool both refused a file's records: the watcher stops so none is lost."""


@dataclass
class WatchCounters:
    """How far the watcher got (read by the heartbeat and by tests)."""

    scans: int = 0
    inspected: int = 0
    rejected: int = 0
    waiting: int = 0
    last_file: str = ""


def verdicts_text(inspection: FileInspection) -> str:
    """``patchcore OK 0.231 · efficientad NG 0.812``, with ``(not this product)`` where the product gate says so."""
    return " · ".join(
        f"{item.model} {item.verdict.value} {item.score:.3f}" + (" (not this product)" if item.foreign else "")
        for item in inspection.verdicts
    )


def status_note(status: RecordStatus) -> str:
    """Empty for records written now; else where they went."""
    if status.spooled:
        return f"  [records database unavailable ({status.error}): kept in the local spool]"
    if not status.written:
        return "  [already recorded]"
    return ""


class _Wake(FileSystemEventHandler):
    """Any file event in the folder wakes the watcher for a scan."""

    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.wake.set()


class Watcher:
    """Watches one folder for one product until :meth:`stop`; prints one line per handled file through ``out``."""

    def __init__(
        self,
        config: WatchConfig,
        settings: Settings,
        *,
        factory: DetectorFactory = Detector,
        out: Callable[[str], None] = print,
    ) -> None:
        folder = config.folder
        if not folder.is_dir():
            state = "is not a folder" if folder.exists() else "does not exist"
            raise WatchError(f"watch folder {folder} {state}: give the folder the camera or PLC writes images into")
        self.config = config
        self.folder = folder.resolve()
        """The folder as an absolute path: the ledger's and the records' keys hold it, whatever the working folder."""
        self.settings = settings
        self.factory = factory
        self.out = out
        self.runs = default_runs(settings, config.category, config.models, config.dataset)
        self.home = watch_dir(settings, folder, config.category)
        self.ledger = Ledger(self.home)
        self.counters = WatchCounters()
        self.tracker = ArrivalTracker()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done: dict[VersionKey, LedgerEntry] = {}
        self._undecodable: dict[VersionKey, tuple[str, str]] = {}
        """Version → (sha256, the decoder's reason): waiting for ``settle_s`` before it is rejected."""
        self._state = "loading"
        self._beat = Heartbeat(
            folder=str(self.folder),
            category=config.category,
            runs={model: run.relative_to(settings.registry_dir) for model, run in self.runs.items()},
            station=settings.station,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now_text(),
            updated_at=now_text(),
        )

    def stop(self) -> None:
        """Ask the watcher to stop after the file in hand (safe from a signal handler or another thread)."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Watch until :meth:`stop`; raises ``WatchError`` where another watcher holds the folder, and
        ``RecordsLostError`` where records can be neither written nor spooled."""
        description = f"folder {self.folder} for product '{self.config.category}'"
        self.ledger.lock(description)
        beating = threading.Thread(target=self._beat_until_stopped, name="watch-heartbeat", daemon=True)
        error = ""
        try:
            beating.start()
            self._watch()
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop.set()
            beating.join()
            self._write_beat(state="stopped", error=error)
            self.ledger.unlock()

    def _watch(self) -> None:
        """Load the models, then scan, inspect and wait until stopped."""
        names = ", ".join(f"{model} ({run.record.run})" for model, run in self.runs.items())
        self.out(f"loading {names} for product '{self.config.category}'")
        store = RecordStore(self.settings)
        try:
            inspector = FolderInspector(self.runs, self.settings, store, self.factory)
            self._done = self.ledger.load({version.key for version in scan(self.folder)})
            self.out(self._started_text(inspector))
            self._state = "watching"
            observer = self._observe()
            try:
                while not self._stop.is_set():
                    self._scan_and_inspect(inspector)
                    self._wait()
            finally:
                if observer is not None:
                    observer.stop()
                    observer.join(timeout=5)
        finally:
            store.close()

    def _started_text(self, inspector: FolderInspector) -> str:
        choices = ", ".join(
            f"{model} on {detector.choice.backend} {detector.choice.precision}"
            for model, detector in inspector.detectors.items()
        )
        return (
            f"watching {self.folder} for product '{self.config.category}' with {choices}; station "
            f"{self.settings.station}; {len(self._done)} file(s) already handled; stop with Ctrl+C"
        )

    def _observe(self) -> Observer | None:
        """watchdog's observer on the folder; ``None`` (scans on a timer only) where the system refuses one."""
        observer = Observer()
        try:
            observer.schedule(_Wake(self._wake), str(self.folder), recursive=False)
            observer.start()
        except OSError as exc:
            self.out(f"file events unavailable ({exc}); scanning every {RESCAN_S:g} s instead")
            return None
        return observer

    def _wait(self) -> None:
        """Until a file event, the next version due to be quiet or settled, or :data:`RESCAN_S`; at least
        :data:`MIN_RESCAN_S`."""
        dues = [
            (self.config.settle_s if version.key in self._undecodable else self.config.quiet_s)
            - self.tracker.unchanged_for(version)
            for version in self.tracker.versions()
            if version.key not in self._done
        ]
        started = time.monotonic()
        self._wake.wait(min(max(min(dues, default=RESCAN_S), MIN_RESCAN_S), RESCAN_S))
        self._wake.clear()
        time.sleep(max(MIN_RESCAN_S - (time.monotonic() - started), 0.0))

    def _scan_and_inspect(self, inspector: FolderInspector) -> None:
        """One scan; every quiet version not yet handled, in arrival order, in batches of up to :data:`BATCH` files
        and :data:`BATCH_PIXELS`."""
        try:
            versions = scan(self.folder)
        except OSError as exc:
            raise WatchError(f"watch folder {self.folder} cannot be read any more: {exc}") from exc
        self.tracker.observe(versions)
        present = {version.key for version in versions}
        self._undecodable = {key: value for key, value in self._undecodable.items() if key in present}
        batch: list[CompleteFile] = []
        started = time.perf_counter()
        for version in self.tracker.versions():
            if self._stop.is_set():
                break
            if version.key in self._done:
                continue
            unchanged = self.tracker.unchanged_for(version)
            if version.key in self._undecodable:
                if unchanged >= self.config.settle_s:
                    self._inspect(batch, inspector, started)
                    batch, started = [], time.perf_counter()
                    self._reject(version)
            elif unchanged >= self.config.quiet_s:
                complete = self._read(version)
                batch += [complete] if complete is not None else []
                if len(batch) == BATCH or sum(file.image.width * file.image.height for file in batch) >= BATCH_PIXELS:
                    self._inspect(batch, inspector, started)
                    batch, started = [], time.perf_counter()
        self._inspect(batch, inspector, started)
        self.counters.scans += 1
        self.counters.waiting = sum(1 for version in versions if version.key not in self._done)

    def _read(self, version: FileVersion) -> CompleteFile | None:
        """A quiet version read and decoded; ``None`` where the file changed or vanished meanwhile (the next scan sees
        it) or does not decode (it waits for ``settle_s``)."""
        try:
            data = version.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._undecodable[version.key] = ("", f"{version.name}: cannot be read ({exc})")
            return None
        if current_version(version) != version:
            return None
        digest = hashlib.sha256(data).hexdigest()
        try:
            image = load_image(data, name=version.name, max_pixels=self.settings.max_image_pixels)
        except ImageInputError as exc:
            self._undecodable[version.key] = (digest, str(exc))
            return None
        return CompleteFile(version, data, digest, image)

    def _inspect(self, batch: list[CompleteFile], inspector: FolderInspector, started: float) -> None:
        """Inspect and record a batch, then put each file in the ledger and print its line (latency: from its read
        to its record)."""
        if not batch:
            return
        inspections, status = inspector.inspect(batch)
        if status.lost:
            raise RecordsLostError(
                f"{', '.join(printable(file.version.name) for file in batch)}: the records database and the local "
                f"spool both refused their records ({status.error}); stopping so that nothing is lost: they are "
                "inspected again on restart"
            )
        ms = (time.perf_counter() - started) * 1000
        for inspection in inspections:
            file = inspection.file
            verdicts = {item.model: item.verdict.value for item in inspection.verdicts}
            entry = LedgerEntry(
                *file.version.key, sha256=file.digest, outcome="recorded", at=now_text(), verdicts=verdicts
            )
            self._handled(entry)
            self.counters.inspected += 1
            self.out(f"{printable(file.version.name)}  {verdicts_text(inspection)}  {ms:.0f} ms{status_note(status)}")

    def _reject(self, version: FileVersion) -> None:
        """A version that stayed undecodable for ``settle_s``: in the ledger once with the reason, printed once."""
        digest, reason = self._undecodable.pop(version.key)
        self._handled(LedgerEntry(*version.key, sha256=digest, outcome="rejected", at=now_text(), reason=reason))
        self.counters.rejected += 1
        self.out(f"{printable(version.name)}  rejected: {printable(reason)}")

    def _handled(self, entry: LedgerEntry) -> None:
        self.ledger.append(entry)
        self._done[entry.key] = entry
        self.counters.last_file = Path(entry.path).name

    def _write_beat(self, state: str | None = None, error: str = "") -> None:
        counters = self.counters
        self._beat = replace(
            self._beat,
            updated_at=now_text(),
            state=state or self._state,
            inspected=counters.inspected,
            rejected=counters.rejected,
            waiting=counters.waiting,
            last_file=counters.last_file,
            error=error,
        )
        write_heartbeat(self.home, self._beat)

    def _beat_until_stopped(self) -> None:
        """The heartbeat thread: a heartbeat now and every :data:`BEAT_S` until the watcher stops; a registry that
        cannot be written is said once (the watch goes on: the heartbeat only informs the Live page)."""
        failed = False
        while True:
            try:
                self._write_beat()
            except OSError as exc:
                if not failed:
                    self.out(f"the heartbeat cannot be written ({exc}): the Live page will not see this watcher")
                failed = True
            if self._stop.wait(BEAT_S):
                return
