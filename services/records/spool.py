"""The local spool: records that could not reach the database, as JSON lines, one file per process.

Each line is flushed and fsynced before :meth:`Spool.append` returns. A process appends only to its own file
(``spool-<host>-<pid>.jsonl``), so two processes never interleave; it takes over the files of processes of its host
that are gone. Writes are idempotent (client-generated ids), so a file read twice is still written once.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.records.record import InspectionRecord
from services.registry.runs import pid_alive

SPOOL = "spool"
SUFFIX = ".jsonl"


@dataclass(frozen=True)
class SpooledBatch:
    """Records read from spool files, and the files to remove once they are written."""

    records: list[InspectionRecord]
    files: list[Path]


class Spool:
    """The spool folder of a records folder, seen from this process."""

    def __init__(self, records_dir: Path) -> None:
        self.folder = records_dir / SPOOL
        self.host = socket.gethostname()

    @property
    def own_file(self) -> Path:
        """This process's file."""
        return self.folder / f"spool-{self.host}-{os.getpid()}{SUFFIX}"

    def append(self, records: Sequence[InspectionRecord]) -> None:
        """Append records to this process's file, durably; raises ``OSError`` where it cannot be written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps(record.to_json_dict(), sort_keys=True) + "\n" for record in records)
        with self.own_file.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())

    def _claimable(self, path: Path) -> bool:
        """This process's file, or one of a process of this host that is gone."""
        host, _, pid = path.stem.removeprefix("spool-").rpartition("-")
        return path == self.own_file or (host == self.host and pid.isdigit() and not pid_alive(int(pid)))

    def pending(self) -> SpooledBatch:
        """Every record in the files this process may write: its own and those of gone processes of its host."""
        files = sorted(path for path in self.folder.glob(f"spool-*{SUFFIX}") if self._claimable(path))
        records: list[InspectionRecord] = []
        for path in files:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(InspectionRecord.from_row(json.loads(line)))
                except (ValueError, KeyError):  # the torn last line of a process killed while writing it
                    continue
        return SpooledBatch(records=records, files=files)

    def count(self) -> int:
        """How many records wait in the files this process may write."""
        return len(self.pending().records)

    @staticmethod
    def discard(batch: SpooledBatch) -> None:
        """Remove the files of a batch that has been written."""
        for path in batch.files:
            path.unlink(missing_ok=True)
