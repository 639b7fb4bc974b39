"""Recording: exact round trips, idempotent writes, images kept once, and the spool while the database is away."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.records.image_store import ImageStore
from services.records.query import RecordFilter
from services.records.spool import Spool
from services.records.store import RecordStore
from services.settings import Settings
from tests.services.records.conftest import postgres_ctl
from tests.services.records.sample_records import sample_record


@pytest.fixture
def store(records_settings: Settings) -> Iterator[RecordStore]:
    opened = RecordStore(records_settings)
    yield opened
    opened.close()


def _blocked_sqlite(tmp_path: Path) -> tuple[Settings, Path]:
    """Settings whose SQLite file lies under a plain file, so neither the folder nor the file can be made (even as
    root); removing that file fixes it."""
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the database folder should be")
    url = f"sqlite:///{blocker / 'records.db'}"
    return Settings(registry_dir=tmp_path / "models", database_url=url, station="s"), blocker


def test_a_record_reads_back_exactly_as_written(store: RecordStore) -> None:
    record = sample_record()
    status = store.record([record])
    assert (status.written, status.flushed, status.spooled, status.error) == (1, 0, 0, "")
    assert store.query(RecordFilter()) == [record]


def test_unknown_values_read_back_as_none(store: RecordStore) -> None:
    record = sample_record(operator=None, raw_score=None, neighbour_vote=None, foreign_part=None, regions=())
    store.record([record])
    assert store.query(RecordFilter()) == [record]


def test_writing_the_same_record_twice_keeps_one(store: RecordStore) -> None:
    record = sample_record()
    assert store.record([record]).written == 1
    assert store.record([record]).written == 0
    assert store.count() == 1


def test_a_dedup_key_is_recorded_once_whatever_the_id(store: RecordStore) -> None:
    first, again = sample_record(dedup_key="k" * 64), sample_record(dedup_key="k" * 64)
    assert first.id != again.id
    assert store.record([first, again]).written == 1
    assert [record.id for record in store.query(RecordFilter())] == [first.id]


def test_images_are_kept_once_by_sha256_without_partial_files(tmp_path: Path) -> None:
    images = ImageStore(tmp_path)
    data = b"\x89PNG\r\n\x1a\n pixels"
    digest = images.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert images.put(data) == digest
    assert images.path(digest) == tmp_path / "images" / digest[:2] / digest
    assert images.read(digest) == data
    assert [path.name for path in (tmp_path / "images").rglob("*") if path.is_file()] == [digest]


def test_record_keeps_the_images_it_is_given(store: RecordStore) -> None:
    data = b"image bytes"
    digest = hashlib.sha256(data).hexdigest()
    status = store.record([sample_record(image_sha256=digest)], images={digest: data})
    assert status.image_error == ""
    assert store.images.read(digest) == data


def test_an_unwritable_sqlite_database_spools_and_the_next_write_flushes_first(tmp_path: Path) -> None:
    settings, blocker = _blocked_sqlite(tmp_path)
    store = RecordStore(settings)
    waiting = [sample_record(), sample_record()]
    status = store.record(waiting)
    assert (status.written, status.spooled, status.stored) == (0, 2, False)
    assert str(blocker) in status.error
    lines = store.spool.own_file.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [record.id for record in waiting]
    blocker.unlink()
    status = store.record([sample_record()])
    assert (status.written, status.flushed, status.spooled, status.error) == (1, 2, 0, "")
    assert not store.spool.own_file.exists()
    assert store.flush_spool().flushed == 0
    assert store.count() == 3
    store.close()


def test_flush_spool_writes_what_waits_once_the_database_is_back(tmp_path: Path) -> None:
    settings, blocker = _blocked_sqlite(tmp_path)
    store = RecordStore(settings)
    store.record([sample_record()])
    still_down = store.flush_spool()
    assert (still_down.flushed, still_down.spooled, still_down.stored) == (0, 1, False)
    blocker.unlink()
    assert store.flush_spool().flushed == 1
    assert store.flush_spool().flushed == 0
    assert store.count() == 1
    store.close()


def test_nowhere_to_keep_a_record_is_reported_as_lost_never_raised(tmp_path: Path) -> None:
    settings, _blocker = _blocked_sqlite(tmp_path)
    settings.records_dir.mkdir(parents=True)
    (settings.records_dir / "spool").write_text("a file where the spool folder should be")
    status = RecordStore(settings).record([sample_record()])
    assert (status.written, status.spooled, status.lost) == (0, 0, 1)
    assert "the spool cannot be written either" in status.error


def test_spool_files_of_gone_processes_are_taken_over_and_live_ones_are_not(store: RecordStore) -> None:
    spool = store.spool
    spool.folder.mkdir(parents=True)
    script = "import os; print(os.getpid())"
    gone = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    orphan, other = sample_record(), sample_record()
    (spool.folder / f"spool-{spool.host}-{gone.stdout.strip()}.jsonl").write_text(
        json.dumps(orphan.to_json_dict()) + "\n" + '{"id": "torn'
    )
    live = spool.folder / f"spool-{spool.host}-{os.getppid()}.jsonl"
    live.write_text(json.dumps(other.to_json_dict()) + "\n")
    assert store.flush_spool().flushed == 1
    assert [record.id for record in store.query(RecordFilter())] == [orphan.id]
    assert sorted(spool.folder.iterdir()) == [live]


def test_spool_lines_are_written_whole_per_process(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    records = [sample_record() for _ in range(3)]
    spool.append(records[:1])
    spool.append(records[1:])
    assert spool.own_file.name == f"spool-{spool.host}-{os.getpid()}.jsonl"
    assert spool.pending().records == records


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_stopped_mid_session_spools_and_flushes_exactly_once_when_started(store: RecordStore) -> None:
    assert store.record([sample_record()]).written == 1
    postgres_ctl("stop")
    try:
        down = store.record([sample_record(), sample_record()])
        assert (down.written, down.spooled, down.stored) == (0, 2, False)
        assert down.error.startswith("OperationalError")
    finally:
        postgres_ctl("start")
    back = store.record([sample_record()])
    assert (back.written, back.flushed, back.spooled, back.error) == (1, 2, 0, "")
    assert store.flush_spool().flushed == 0
    assert store.count() == 4
