"""The page tests' registry (the shared tiny one, indexed into its embedded Qdrant store) and app fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.settings import PROJECT_ROOT, get_settings
from tests.conftest import TinyRegistry

APP = str(PROJECT_ROOT / "app.py")
APP_TIMEOUT_S = 180


@dataclass(frozen=True)
class PageRegistry:
    """Where the fixture registry and its dataset live."""

    registry_dir: Path
    data_root: Path
    dataset_root: Path


@pytest.fixture(scope="session")
def page_registry(tiny_registry: TinyRegistry) -> Iterator[PageRegistry]:
    """The shared tiny registry (PatchCore and EfficientAd on synthetic tile) indexed into its embedded store."""
    from services.similarity.crop_embedder import Embedder
    from services.similarity.index import index_run
    from services.similarity.store import close_stores, open_store

    settings = tiny_registry.settings
    store, embedder = open_store(settings), Embedder(settings)
    for run in tiny_registry.runs.values():
        index_run(run, store, embedder)
    yield PageRegistry(
        registry_dir=settings.registry_dir, data_root=settings.data_root, dataset_root=tiny_registry.dataset_root
    )
    close_stores()


def _point_settings_at(monkeypatch: pytest.MonkeyPatch, registry_dir: Path, data_root: Path, records_db: Path) -> None:
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(registry_dir))
    monkeypatch.setenv("ANOMALYLENS_DATA_ROOT", str(data_root))
    monkeypatch.setenv("ANOMALYLENS_DATABASE_URL", f"sqlite:///{records_db}")
    monkeypatch.setenv("ANOMALYLENS_DEVICE", "cpu")
    monkeypatch.delenv("ANOMALYLENS_QDRANT_URL", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def registry_env(
    page_registry: PageRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[PageRegistry]:
    """Settings (environment) pointing at the fixture registry for one test, with an inspection records database of
    the test's own."""
    _point_settings_at(monkeypatch, page_registry.registry_dir, page_registry.data_root, tmp_path / "records.db")
    yield page_registry
    get_settings.cache_clear()


@pytest.fixture
def registry_copy(registry_env: PageRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A copy of the fixture registry that the settings point at, for a test that damages it (the shared one's
    Qdrant store stays open in this process); without the records other tests kept there, so what it records is
    written afresh."""
    registry = tmp_path / "models"
    top = str(registry_env.registry_dir)
    shutil.copytree(
        registry_env.registry_dir, registry, ignore=lambda folder, _: {"records"} if folder == top else set()
    )
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(registry))
    get_settings.cache_clear()
    return registry


@pytest.fixture
def empty_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at an empty registry folder."""
    _point_settings_at(monkeypatch, tmp_path / "models", tmp_path / "data", tmp_path / "records.db")
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def app() -> AppTest:
    """The app, not yet run."""
    return AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
