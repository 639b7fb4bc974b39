"""Inspection records: one row per inspected image and model in SQLite or PostgreSQL, with a local spool."""
