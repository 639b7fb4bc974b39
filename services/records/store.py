"""``RecordStore``: inspection records written to the database, or kept in the local spool while it is unavailable.

Recording never raises for a database that is down, locked or unreachable: the records go to the spool and the
returned :class:`RecordStatus` says so. The next write that succeeds, and :meth:`RecordStore.flush_spool`, write the
spooled records first, in the same transaction; inserts skip ids (and dedup keys) already present, so each record is
written exactly once however often a spool file is read.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.util import CommandError
from sqlalchemy import Connection, Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from services.records.database import create_records_engine, database_url, migrate, prepare_folder
from services.records.image_store import ImageStore
from services.records.query import RecordFilter
from services.records.record import InspectionRecord
from services.records.schema import InspectionRow
from services.records.spool import Spool
from services.registry.writable import is_not_writable, not_writable
from services.settings import Settings

ROWS_PER_INSERT = 500
"""Rows per multi-row INSERT (SQLite allows 32766 bound values; a record has 27 columns)."""
UNAVAILABLE = (SQLAlchemyError, OSError, CommandError)
"""What a database that is down, locked, unreachable or unwritable raises."""
INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@dataclass(frozen=True)
class RecordStatus:
    """What became of a write: records written now, spooled ones written first, records kept in the spool instead."""

    written: int = 0
    flushed: int = 0
    spooled: int = 0
    error: str = ""
    """Why the database could not be written (empty when it was)."""
    image_error: str = ""
    """Why an image could not be kept (its record is written all the same)."""
    lost: int = 0
    """Records neither written nor spooled: the database and the spool folder both refused them."""

    @property
    def stored(self) -> bool:
        """Whether the database took the write."""
        return not self.error


def _reason(exc: BaseException) -> str:
    """The first line of the driver's message, without the SQL statement."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def _write_reason(exc: OSError, action: str, folder: Path) -> str:
    """Why a write into ``folder`` failed: the folder named as read-only where it is, else the error itself."""
    return str(not_writable(action, folder, exc)) if is_not_writable(exc) else _reason(exc)


class RecordStore:
    """The records database of the settings (SQLite under the registry by default), its images and its spool."""

    def __init__(self, settings: Settings) -> None:
        self.url = database_url(settings)
        self.engine = create_records_engine(self.url)
        self.images = ImageStore(settings.records_dir)
        self.spool = Spool(settings.records_dir)
        self._lock = threading.Lock()
        self._migrated = False

    def _ready(self) -> None:
        """Create a SQLite file's folder and migrate the schema, once per store."""
        if not self._migrated:
            prepare_folder(self.url)
            migrate(self.engine)
            self._migrated = True

    def _insert(self, connection: Connection, records: Sequence[InspectionRecord]) -> int:
        """Insert the records whose id and dedup key are new; returns how many were inserted."""
        insert = INSERTS[self.engine.dialect.name]
        inserted = 0
        for start in range(0, len(records), ROWS_PER_INSERT):
            rows = [record.to_row() for record in records[start : start + ROWS_PER_INSERT]]
            statement: Insert = insert(InspectionRow).values(rows).on_conflict_do_nothing()
            inserted += len(connection.execute(statement.returning(InspectionRow.id)).all())
        return inserted

    def _write(self, records: Sequence[InspectionRecord]) -> RecordStatus:
        """Spooled records, then ``records``, in one transaction; the spool files go once it commits."""
        self._ready()
        batch = self.spool.pending()
        with self.engine.begin() as connection:
            flushed = self._insert(connection, batch.records)
            written = self._insert(connection, records)
        self.spool.discard(batch)
        return RecordStatus(written=written, flushed=flushed)

    def _keep_images(self, images: Mapping[str, bytes]) -> str:
        """Keep each image's bytes; why one could not be kept, or empty."""
        try:
            for data in images.values():
                self.images.put(data)
        except OSError as exc:
            return _write_reason(exc, "keep the inspected images", self.images.root)
        return ""

    def record(self, records: Sequence[InspectionRecord], images: Mapping[str, bytes] | None = None) -> RecordStatus:
        """Keep the images (by sha256) and write the records; where the database cannot be written, append them to
        the spool instead. Never raises for an unavailable database."""
        image_error = self._keep_images(images or {})
        with self._lock:
            try:
                status = self._write(records)
            except UNAVAILABLE as exc:
                return self._spool(records, _reason(exc), image_error)
        return RecordStatus(written=status.written, flushed=status.flushed, image_error=image_error)

    def _spool(self, records: Sequence[InspectionRecord], error: str, image_error: str) -> RecordStatus:
        """Append the records to the spool; counted as lost where it cannot be written either."""
        try:
            self.spool.append(records)
        except OSError as exc:
            error = f"{error}; the spool cannot be written either: {_write_reason(exc, 'spool', self.spool.folder)}"
            return RecordStatus(error=error, image_error=image_error, lost=len(records))
        return RecordStatus(spooled=len(records), error=error, image_error=image_error)

    def flush_spool(self) -> RecordStatus:
        """Write whatever waits in the spool; ``error`` says why not where the database is still unavailable."""
        with self._lock:
            try:
                return self._write([])
            except UNAVAILABLE as exc:
                return RecordStatus(spooled=self.spool.count(), error=_reason(exc))

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection to the migrated database (raises ``SQLAlchemyError`` where it is down)."""
        self._ready()
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A transaction on the migrated database, committed when the block ends without raising."""
        self._ready()
        with self.engine.begin() as connection:
            yield connection

    def query(self, record_filter: RecordFilter) -> list[InspectionRecord]:
        """The records matching the filter, newest first (raises ``SQLAlchemyError`` where the database is down)."""
        with self.reading() as connection:
            rows = connection.execute(record_filter.statement()).mappings().all()
        return [InspectionRecord.from_row(dict(row)) for row in rows]

    def get(self, record_id: str) -> InspectionRecord | None:
        """The record with this id, or ``None``."""
        query = select(InspectionRow.__table__).where(InspectionRow.id == record_id)
        with self.reading() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else InspectionRecord.from_row(dict(row))

    def count(self, record_filter: RecordFilter | None = None) -> int:
        """How many records the database holds, or match ``record_filter`` (its limit aside)."""
        query = select(func.count()).select_from(InspectionRow)
        if record_filter is not None:
            query = query.where(*record_filter.conditions())
        with self.reading() as connection:
            return int(connection.execute(query).scalar_one())

    def close(self) -> None:
        """Release the pooled connections."""
        self.engine.dispose()
