"""Migrations from an empty database and from 0001, the ORM against the migrated schema, SQLite's WAL mode and
default file."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from services.records.database import (
    BUSY_TIMEOUT_MS,
    alembic_config,
    create_records_engine,
    current_revision,
    head_revision,
    migrate,
    prepare_folder,
)
from services.records.database import database_url as resolved_url
from services.records.record import InspectionRecord
from services.records.schema import Base, InspectionRow
from services.records.store import RecordStore
from services.settings import Settings
from tests.services.records.sample_records import sample_record


def _at_revision(url: str, revision: str) -> Engine:
    """An engine on the database at ``url`` migrated up to ``revision`` only."""
    engine = create_records_engine(resolved_url(Settings(database_url=url)))
    prepare_folder(engine.url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def _migrated(url: str) -> Engine:
    settings = Settings(database_url=url)
    engine = create_records_engine(resolved_url(settings))
    prepare_folder(engine.url)
    migrate(engine)
    return engine


def test_migrations_from_an_empty_database_create_the_tables_at_the_head_revision(database_url: str) -> None:
    engine = create_records_engine(resolved_url(Settings(database_url=database_url)))
    prepare_folder(engine.url)
    assert current_revision(engine) is None
    assert "inspection_records" not in inspect(engine).get_table_names()
    migrate(engine)
    assert current_revision(engine) == head_revision() == "0004"
    assert {"inspection_records", "review_decisions", "alembic_version"} <= set(inspect(engine).get_table_names())
    migrate(engine)  # a second run finds nothing to do
    assert current_revision(engine) == "0004"
    engine.dispose()


def test_a_database_at_0001_keeps_its_records_when_migrated_to_the_review_decisions(database_url: str) -> None:
    engine = _at_revision(database_url, "0001")
    kept = sample_record()
    with engine.begin() as connection:
        connection.execute(InspectionRow.__table__.insert().values(**kept.to_row()))
    assert current_revision(engine) == "0001"
    assert "review_decisions" not in inspect(engine).get_table_names()
    migrate(engine)
    assert current_revision(engine) == "0004"
    with engine.connect() as connection:
        rows = connection.execute(InspectionRow.__table__.select()).mappings().all()
    assert [InspectionRecord.from_row(dict(row)) for row in rows] == [kept]
    engine.dispose()


def test_the_trend_index_is_added_to_a_database_at_0002_and_dropped_again(database_url: str) -> None:
    engine = _at_revision(database_url, "0002")
    name = "ix_inspection_records_recorded_at_verdict_foreign_part"
    assert name not in {index["name"] for index in inspect(engine).get_indexes("inspection_records")}
    migrate(engine)
    (index,) = [index for index in inspect(engine).get_indexes("inspection_records") if index["name"] == name]
    assert index["column_names"] == ["recorded_at", "verdict", "foreign_part"]
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert name not in {index["name"] for index in inspect(engine).get_indexes("inspection_records")}
    engine.dispose()


def test_the_orm_metadata_matches_the_migrated_schema(database_url: str) -> None:
    engine = _migrated(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_the_schema_check_sees_a_column_the_migrations_lack(tmp_path: Path) -> None:
    engine = _migrated(f"sqlite:///{tmp_path / 'records.db'}")
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE inspection_records DROP COLUMN neighbour_vote"))
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert [(kind, column.name) for kind, _schema, _table, column in differences] == [("add_column", "neighbour_vote")]


def test_sqlite_defaults_to_a_file_under_the_registry_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    settings = Settings(registry_dir=tmp_path / "models")
    store = RecordStore(settings)
    assert store.url.database == str(tmp_path / "models" / "records" / "records.db")
    assert store.count() == 0
    assert (tmp_path / "models" / "records" / "records.db").is_file()
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
    store.close()


def test_a_database_url_selects_postgresql_through_psycopg() -> None:
    url = resolved_url(Settings(database_url="postgresql+psycopg://user:secret@db.example:5432/records"))
    assert (url.get_backend_name(), url.get_driver_name(), url.database) == ("postgresql", "psycopg", "records")
    assert create_records_engine(url).dialect.driver == "psycopg"
