"""The records tests run on SQLite and on a real PostgreSQL server (``ANOMALYLENS_TEST_POSTGRES_URL``).

Without that variable the PostgreSQL cases skip locally, but fail under CI (``CI`` set): ``.ci/run`` starts a server
with ``scripts/start_test_postgres.sh``, so a CI run can never pass by skipping them. Each case gets a database of
its own, created empty and dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from services.settings import Settings

POSTGRES_URL_ENV = "ANOMALYLENS_TEST_POSTGRES_URL"
POSTGRES_CTL_ENV = "ANOMALYLENS_TEST_POSTGRES_CTL"
START_HINT = 'eval "$(bash scripts/start_test_postgres.sh start)"'
BACKENDS = ("sqlite", "postgresql")


def _required(variable: str) -> str:
    """The variable's value; a skip locally, a failure under CI, where it is missing."""
    value = os.environ.get(variable, "")
    if not value:
        reason = f"{variable} is not set: start a throwaway server with `{START_HINT}`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (.ci/run does; under CI the PostgreSQL tests may not be skipped)")
        pytest.skip(reason)
    return value


def postgres_ctl(action: str) -> None:
    """Stop or start the test server (``pg_ctl`` through the script's wrapper)."""
    subprocess.run([_required(POSTGRES_CTL_ENV), action], check=True, capture_output=True, timeout=60)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A database of its own on the PostgreSQL test server, created empty and dropped afterwards."""
    admin_url = _required(POSTGRES_URL_ENV)
    name = f"records_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file in a fresh folder, or a fresh database on the PostgreSQL test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'database' / 'records.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL test server's URL, checked once per session: a test that names it first skips (or fails under
    CI) before its other session fixtures are built."""
    return _required(POSTGRES_URL_ENV)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh empty database on the PostgreSQL test server only (for what SQLite is not meant to serve)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def records_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with a registry in ``tmp_path`` and the case's database."""
    return Settings(
        data_root=tmp_path / "data",
        registry_dir=tmp_path / "models",
        weights_dir=tmp_path / "weights",
        database_url=database_url,
        station="station-1",
    )
