"""What a review decision changes, and what its undo puts back (issue #15, the learning loop).

A confirmed defect joins its run's similar-defect library (``source: production``); a false alarm on a PatchCore run
becomes the run's next version with the image in its memory bank; a false alarm on another model waits for that
model's next training (``train --include-reviewed``). Undo removes the library points or the versions that learned
the image, so the version before them is the product's default run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.learning.false_alarms import index_version, learn_false_alarms, undo_version
from services.modeling.model_table import PATCHCORE
from services.records.record import InspectionRecord
from services.records.review import Decision, ReviewDecision
from services.registry.runs import Run, load_run
from services.registry.versions import base_name, learned_images, version_numbers
from services.settings import Settings
from services.similarity.crop_embedder import Embedder
from services.similarity.production import add_confirmed_defect, record_run, remove_confirmed_defect
from services.similarity.store import SimilarityStore


@dataclass(frozen=True)
class LearningOutcome:
    """What a decision or its undo changed, in words for the person who made it."""

    summary: str


def apply_decision(
    decision: ReviewDecision,
    record: InspectionRecord,
    *,
    settings: Settings,
    store: SimilarityStore,
    embedder: Embedder,
) -> LearningOutcome:
    """Apply ``decision`` on ``record`` (or undo it, once it is no longer standing) to the library or the run."""
    if decision.decision is Decision.DEFECT:
        if decision.standing:
            add_confirmed_defect(record, decision.defect_type or "", settings=settings, store=store, embedder=embedder)
            return LearningOutcome(f"Added to the similar-defect library as {decision.defect_type}.")
        removed = remove_confirmed_defect(record.id, settings=settings, store=store)
        return LearningOutcome(f"Removed from the similar-defect library ({removed} points).")
    if record.model != PATCHCORE.name:  # only a memory bank learns a false alarm at once, as a new run version
        verb = "Kept" if decision.standing else "No longer kept"
        return LearningOutcome(f"{verb} as a normal image for the next training (train --include-reviewed).")
    if decision.standing:
        run = record_run(record, settings)
        learned = learn_false_alarms(run, [record.image_sha256], settings, progress=lambda _: None)
        index_version(learned.run, settings, store, embedder)
        return LearningOutcome(f"Learned as a normal part: new run version {learned.run.record.run}.")
    undone = _versions_that_learned(record_run(record, settings), record.image_sha256)
    for version in undone:
        undo_version(version, store)
    names = ", ".join(version.record.run for version in undone) or "none"
    return LearningOutcome(f"Run versions that had learned the image removed: {names}.")


def _versions_that_learned(run: Run, image_sha256: str) -> list[Run]:
    """The versions of ``run``'s trained run whose memory bank holds the image, newest first."""
    folder, base = run.path.parent, base_name(run)
    versions = [load_run(folder / f"{base}_v{number}") for number in reversed(version_numbers(folder, base))]
    return [version for version in versions if image_sha256 in learned_images(version)]
