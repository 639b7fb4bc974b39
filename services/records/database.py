"""The records database: its URL (SQLite under the registry, or ``ANOMALYLENS_DATABASE_URL``), engine and migrations.

SQLite runs in WAL journal mode with a busy timeout, so several sessions of one server read while one writes.
PostgreSQL goes through psycopg 3 (``postgresql+psycopg://…``); the same code serves both. Alembic migrates an empty
or older database to the newest schema whenever a store first writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from services.settings import Settings

DATABASE_FILE = "records.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 2000
"""How long SQLite waits for another writer before the write fails (and the record is spooled)."""
CONNECT_TIMEOUT_S = 3
"""How long a PostgreSQL connection may take before the write fails (and the record is spooled)."""


def database_url(settings: Settings) -> URL:
    """``ANOMALYLENS_DATABASE_URL``, else the SQLite file ``<registry>/records/records.db``."""
    if settings.database_url:
        return make_url(settings.database_url)
    return URL.create("sqlite", database=str(settings.records_dir / DATABASE_FILE))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL journal and the busy timeout on every new SQLite connection."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def create_records_engine(url: URL) -> Engine:
    """An engine for ``url``: SQLite with WAL and a busy timeout, PostgreSQL with a connect timeout; pooled
    connections are checked before use, so a restarted server is reconnected to."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})


def prepare_folder(url: URL) -> None:
    """Create the folder of a SQLite file (raises ``OSError`` where it cannot be); nothing for a server."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def alembic_config() -> Config:
    """Alembic's configuration for the package's migrations (no ``alembic.ini``: they run from code)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration's revision."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, f"{MIGRATIONS} holds no migration"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest schema; another process migrating at the same time is no error."""
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError:
        if current_revision(engine) != head_revision():
            raise
