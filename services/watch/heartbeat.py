"""The watcher's heartbeat: ``<records>/watch/<id>/heartbeat.json``, rewritten every few seconds while it runs.

The Live page reads every heartbeat to say which watchers run: one is running while its file is fresh (and, on
this host, its process alive); a watcher that stops writes its stop time.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.registry.runs import pid_alive
from services.settings import Settings
from services.watch.ledger import WATCH

HEARTBEAT = "heartbeat.json"
BEAT_S = 2.0
"""Seconds between heartbeats."""
STALE_AFTER_S = 15.0
"""A heartbeat older than this is a watcher that is gone (killed, its machine down)."""


@dataclass(frozen=True)
class Heartbeat:
    """What a watcher says about itself: where it looks, with which runs, since when, and how far it got."""

    folder: str
    category: str
    runs: dict[str, str]
    """Model → run id (its folder relative to the registry)."""
    station: str
    host: str
    pid: int
    started_at: str
    updated_at: str
    """UTC, ISO 8601, like every time here."""
    state: str = "loading"
    """``loading`` (the models), ``watching`` or ``stopped``."""
    inspected: int = 0
    rejected: int = 0
    waiting: int = 0
    """Files seen but not complete yet (or not decodable yet)."""
    last_file: str = ""
    error: str = ""
    """Why the watcher stopped, where it stopped on an error."""

    def running(self, now: datetime | None = None) -> bool:
        """Whether the watcher is alive: not stopped, a fresh heartbeat, and its process there (on this host)."""
        if self.state == "stopped":
            return False
        age = ((now or datetime.now(UTC)) - datetime.fromisoformat(self.updated_at)).total_seconds()
        if age > STALE_AFTER_S:
            return False
        return self.host != socket.gethostname() or pid_alive(self.pid)


def now_text() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat()


def write_heartbeat(folder: Path, heartbeat: Heartbeat) -> None:
    """Write the heartbeat atomically (a temporary file renamed into place): a reader never sees half of one."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=".heartbeat-", dir=folder)
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(asdict(heartbeat), file)
        os.replace(partial, folder / HEARTBEAT)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def read_heartbeats(settings: Settings) -> list[Heartbeat]:
    """Every watcher's last heartbeat, newest first; unreadable files (and unreadable times) are skipped."""
    beats = []
    for path in (settings.records_dir / WATCH).glob(f"*/{HEARTBEAT}"):
        try:
            beat = Heartbeat(**json.loads(path.read_text()))
            datetime.fromisoformat(beat.updated_at)  # a time that cannot be read is an unreadable file
        except (OSError, ValueError, TypeError):
            continue
        beats.append(beat)
    return sorted(beats, key=lambda beat: beat.updated_at, reverse=True)
