"""The watcher tests' settings: the shared tiny registry, a records database of each kind, a watched folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.settings import Settings
from services.watch.ledger import watch_dir
from tests.conftest import TinyRegistry
from tests.services.records import conftest as records_conftest

PART_PATTERN = r"(?P<part>P\d+)_(?P<lot>L\d+)"
database_url = records_conftest.database_url
"""Each case on SQLite and on the PostgreSQL test server, as every records test."""


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """The folder a camera writes into."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def watch_settings(tiny_registry: TinyRegistry, database_url: str, inbox: Path) -> Iterator[Settings]:
    """The tiny registry's settings with the case's database, a station and the part-id pattern; the watch folder
    (ledger, heartbeat) is removed afterwards, as the registry is shared."""
    settings = tiny_registry.settings.with_overrides(
        database_url=database_url, station="line-3", part_id_pattern=PART_PATTERN
    )
    yield settings
    shutil.rmtree(watch_dir(settings, inbox, "tile"), ignore_errors=True)
