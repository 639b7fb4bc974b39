"""Faults of an embedded Qdrant folder, for the store's and the pages' tests: held by another process, or damaged."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def held_by_another_process(folder: Path) -> Iterator[None]:
    """Another Python process holds the embedded store in ``folder`` open (and so its lock) for the block."""
    holder_code = (
        "import sys\nfrom qdrant_client import QdrantClient\n"
        f"client = QdrantClient(path={str(folder)!r})\nprint('ready', flush=True)\nsys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.communicate(input="", timeout=60)


def _collection_file(folder: Path) -> Path:
    return sorted(folder.glob("collection/*/storage.sqlite"))[0]


def _garbage_meta(folder: Path) -> None:
    (folder / "meta.json").write_text('{"collections": {"anomalylens__')


def _not_a_database(folder: Path) -> None:
    _collection_file(folder).write_bytes(b"not a database " * 64)


def _truncated_database(folder: Path) -> None:
    storage = _collection_file(folder)
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])


def _point_that_does_not_unpickle(folder: Path) -> None:
    with closing(sqlite3.connect(_collection_file(folder))) as connection, connection:
        connection.execute("UPDATE points SET point = ?", (b"\x80\x04 damaged",))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "meta.json cut short": _garbage_meta,
    "a collection file that is not a database": _not_a_database,
    "a collection database cut in half": _truncated_database,
    "a stored point that does not unpickle": _point_that_does_not_unpickle,
}
"""Ways an embedded store's files get damaged (a disk error, a copy cut short, a hand edit)."""
