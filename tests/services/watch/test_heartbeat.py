"""Heartbeats: written whole, read back newest first, and a watcher is running only while its heartbeat is fresh."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.settings import Settings
from services.watch.heartbeat import HEARTBEAT, STALE_AFTER_S, Heartbeat, read_heartbeats, write_heartbeat
from services.watch.ledger import WATCH

NOW = datetime(2026, 12, 2, 8, 0, 0, tzinfo=UTC)
DEAD_PID = 2**22 + 1  # above Linux's default pid_max


def _beat(**changes: object) -> Heartbeat:
    beat = Heartbeat(
        folder="/line/cam1",
        category="tile",
        runs={"patchcore": "synthetic/patchcore/tile/r"},
        station="station-1",
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=NOW.isoformat(),
        updated_at=NOW.isoformat(),
        state="watching",
    )
    return replace(beat, **changes)  # type: ignore[arg-type]


def test_a_fresh_heartbeat_of_a_live_process_is_running() -> None:
    assert _beat().running(NOW + timedelta(seconds=STALE_AFTER_S))


def test_a_stale_stopped_or_dead_watcher_is_not_running() -> None:
    assert not _beat().running(NOW + timedelta(seconds=STALE_AFTER_S + 1))
    assert not _beat(state="stopped").running(NOW)
    assert not _beat(pid=DEAD_PID).running(NOW)
    assert _beat(pid=DEAD_PID, host="another-host").running(NOW), "another host's pid cannot be checked from here"


def test_heartbeats_are_read_back_newest_first_and_a_broken_file_is_skipped(tmp_path: Path) -> None:
    settings = Settings(registry_dir=tmp_path / "models")
    root = settings.records_dir / WATCH
    older, newer = _beat(category="grid"), _beat(updated_at=(NOW + timedelta(seconds=5)).isoformat())
    write_heartbeat(root / "grid-000000000000", older)
    write_heartbeat(root / "tile-000000000000", newer)
    (root / "leather-000000000000").mkdir()
    (root / "leather-000000000000" / HEARTBEAT).write_text('{"folder": ')
    write_heartbeat(root / "screw-000000000000", _beat(updated_at="yesterday"))
    assert read_heartbeats(settings) == [newer, older]
    assert [path.name for path in (root / "tile-000000000000").iterdir()] == [HEARTBEAT], "no temporary file left"
