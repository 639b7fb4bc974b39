"""Alembic's environment: migrate the connection the caller passes (else the settings' database) against the
records' ORM metadata."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from services.records.database import create_records_engine, database_url
from services.records.schema import Base
from services.settings import get_settings


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Online migrations on ``config.attributes["connection"]``, or on a connection of its own (``alembic revision
    --autogenerate`` through :func:`services.records.database.alembic_config`)."""
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    with create_records_engine(database_url(get_settings())).connect() as connection:
        _run(connection)


run_migrations()
