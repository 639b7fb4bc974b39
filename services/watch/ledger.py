"""The watcher's ledger: every file version it has handled (recorded or rejected), so a restart skips them.

One folder per watched (folder, product) under ``<records>/watch/<id>/``: ``ledger.jsonl`` (fsynced JSON lines,
appended after the records are written) and ``lock`` (held while a watcher runs, so two never watch the same
folder for the same product). The records' dedup key holds the same version key, so a crash between the record
and its ledger line still leaves one record.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Literal

from services.settings import Settings
from services.watch.arrivals import VersionKey

WATCH = "watch"
LEDGER = "ledger.jsonl"
LOCK = "lock"
Outcome = Literal["recorded", "rejected"]


class WatchError(ValueError):
    """The watch cannot start: the message names the folder, product, model or lock and what to do."""


@dataclass(frozen=True)
class LedgerEntry:
    """One handled file version: recorded (with each model's verdict) or rejected (with the decoder's reason)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    outcome: Outcome
    at: str
    """UTC time, ISO 8601."""
    reason: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> VersionKey:
        """The file version it is about."""
        return (self.path, self.size, self.mtime_ns)


def watch_id(folder: Path, category: str) -> str:
    """``<product>-<12 hex of the folder's resolved path>``: one ledger and heartbeat per folder and product."""
    return f"{category}-{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]}"


def watch_dir(settings: Settings, folder: Path, category: str) -> Path:
    """``<records>/watch/<id>/``: the ledger, the lock and the heartbeat of one watched folder and product."""
    return settings.records_dir / WATCH / watch_id(folder, category)


class Ledger:
    """The ledger file of one watch folder; hold :meth:`lock` while appending."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LEDGER
        self._lock: IO[str] | None = None

    def lock(self, description: str) -> None:
        """Take the folder's lock (raises ``WatchError`` naming the holder's pid where another watcher has it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = (self.folder / LOCK).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise WatchError(
                f"{description} is already being watched (pid {holder}); stop that watcher first, "
                "or watch another folder"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        """Release the lock (also released when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def entries(self) -> list[LedgerEntry]:
        """Every readable line; a line torn by a crash mid-append is skipped (its file is handled again)."""
        if not self.path.is_file():
            return []
        entries = []
        for line in self.path.read_text().splitlines():
            try:
                entries.append(LedgerEntry(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return entries

    def load(self, present: set[VersionKey]) -> dict[VersionKey, LedgerEntry]:
        """The entries of file versions still in the folder, keyed by version; the file is rewritten to hold only
        those (so it stays as small as the folder)."""
        entries = self.entries()
        kept = {entry.key: entry for entry in entries if entry.key in present}
        if len(kept) < len(entries):
            partial = self.path.with_name(f".{LEDGER}.partial")
            partial.write_text("".join(_line(entry) for entry in kept.values()))
            os.replace(partial, self.path)
        return kept

    def append(self, entry: LedgerEntry) -> None:
        """Append one entry, fsynced, so it survives a crash."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(_line(entry))
            file.flush()
            os.fsync(file.fileno())


def _line(entry: LedgerEntry) -> str:
    return json.dumps(asdict(entry), ensure_ascii=True) + "\n"
