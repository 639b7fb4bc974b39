"""Deleting a run: admin only (refused before anything changes), its vectors out of the embedded index and its folder
out of the registry; the other runs and their vectors stay."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from services.access import AccessDeniedError, ActingUser, Role
from services.registry.runs import DELETED_SUFFIX, PARTIAL_MARK, Run, list_runs, remove_stale_partials
from services.settings import Settings
from services.similarity.run_deletion import DeletedRun, delete_run
from services.similarity.store import SearchFilters, SimilarityStore, close_stores, open_store
from tests.fake_runs import record, write_run
from tests.services.similarity.test_store import make_items


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    yield Settings(registry_dir=tmp_path / "models", data_root=tmp_path / "data", weights_dir=tmp_path / "w")
    close_stores()


def _indexed_runs(settings: Settings) -> tuple[SimilarityStore, dict[str, Run]]:
    """Two synthetic tile runs, ``old`` and ``new``, each with 2 images × 3 regions in the embedded index."""
    store = open_store(settings)
    runs = {}
    for name in ("old", "new"):
        runs[name] = write_run(settings.registry_dir, replace(record("tile", dataset="synthetic"), run=name))
        store.upsert(make_items(name, 2))
    return store, runs


def _points(store: SimilarityStore, run: str) -> int:
    return store.count(SearchFilters(dataset="synthetic", model="patchcore", category="tile", run=run))


def test_an_admin_deletes_a_run_with_its_vectors_and_the_other_run_stays(settings: Settings) -> None:
    store, runs = _indexed_runs(settings)
    deleted = delete_run(runs["old"], settings=settings, store=store, user=ActingUser("ada", Role.ADMIN, True))
    assert deleted == DeletedRun(run="synthetic/patchcore/tile/old", points=6)
    assert [run.record.run for run in list_runs(settings)] == ["new"]
    assert not runs["old"].path.exists()
    assert not list(runs["old"].path.parent.glob(f"*{PARTIAL_MARK}*")), "nothing is left beside the run"
    assert (_points(store, "old"), _points(store, "new")) == (0, 6)


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ENGINEER])
def test_only_an_admin_deletes_and_a_refusal_changes_nothing(settings: Settings, role: Role) -> None:
    store, runs = _indexed_runs(settings)
    with pytest.raises(AccessDeniedError, match=rf"^emil \({role.value}\) may not delete runs: that needs the admin"):
        delete_run(runs["old"], settings=settings, store=store, user=ActingUser("emil", role, True))
    assert sorted(run.record.run for run in list_runs(settings)) == ["new", "old"]
    assert _points(store, "old") == 6


def test_a_deletion_cut_short_is_never_listed_and_the_next_clean_up_finishes_it(settings: Settings) -> None:
    run = write_run(settings.registry_dir, record("tile"))
    left = run.path.with_name(f"{run.path.name}{PARTIAL_MARK}999999{DELETED_SUFFIX}")  # a process gone mid-delete
    os.replace(run.path, left)
    assert list_runs(settings) == []
    assert remove_stale_partials(settings) == [left]
    assert not left.exists()
