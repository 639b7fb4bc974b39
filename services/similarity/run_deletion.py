"""Deleting a run (admin only): its vectors leave the similar-defect index, then its folder leaves the registry.

The index goes first: a deletion refused or cut short there leaves the run complete and listed. Records that named
the run keep its id; reopening one says the run is no longer in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.access import ActingUser, Action, require
from services.registry.runs import Run, remove_run
from services.registry.writable import ensure_writable
from services.settings import Settings
from services.similarity.store import SimilarityStore


@dataclass(frozen=True)
class DeletedRun:
    """What a deletion removed: the run's id and how many vectors of it the index held."""

    run: str
    points: int


def delete_run(run: Run, *, settings: Settings, store: SimilarityStore, user: ActingUser) -> DeletedRun:
    """Remove ``run``'s vectors from the index and its folder from the registry; ``AccessDeniedError`` for a user who
    is not an admin and ``NotWritableError`` for a read-only registry, both before anything changes."""
    require(user, Action.DELETE_RUNS)
    ensure_writable(run.path.parent, f"delete the run {run.path.name}")
    record = run.record
    points = store.delete_run(record.dataset, record.model, record.category, record.run)
    remove_run(run, user=user)
    return DeletedRun(run=run.relative_to(settings.registry_dir), points=points)
