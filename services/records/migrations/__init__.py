"""Alembic migrations of the records database (run from code by ``services.records.database.migrate``)."""
