"""A review decision applied by the learning loop: a false alarm becomes a run version that scores the image OK, a
confirmed defect joins the library; each undo puts the registry and the library back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services.access import local_user
from services.learning.review_loop import apply_decision
from services.records.image_store import ImageStore
from services.records.review import Decision, decide, undo
from services.records.store import RecordStore
from services.registry.artefacts import read_scores
from services.registry.runs import latest_runs
from services.similarity.crop_embedder import Embedder
from services.similarity.store import PRODUCTION, SearchFilters, open_store
from tests.conftest import TinyRegistry
from tests.reviewed_records import inspected
from tests.services.learning.test_false_alarms import FalseAlarms

pytestmark = pytest.mark.slow


def test_a_false_alarm_decision_makes_a_version_that_scores_it_ok_and_undo_removes_it(
    tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    alarms = FalseAlarms(tiny_registry, tmp_path)
    settings, key = alarms.settings, (alarms.run.record.dataset, "patchcore", alarms.run.record.category)
    record = inspected(alarms.detector, ImageStore(settings.records_dir).path(alarms.images[0]), settings)
    assert record.score > 0.5, "the old run judges the good part NG"
    records = RecordStore(settings)
    store, embedder = open_store(settings), Embedder(settings)
    try:
        records.record([record])
        decision = decide(records, record.id, Decision.FALSE_ALARM, user=local_user("qa"))
        outcome = apply_decision(decision, record, settings=settings, store=store, embedder=embedder)
        version = latest_runs(settings)[key]
        assert version.path.name == f"{alarms.run.path.name}_v2" and version.path.name in outcome.summary
        assert alarms.score(version, record.image_sha256) <= 0.5, "the new version scores the false alarm OK"
        undone = undo(records, decision.id, user=local_user("qa"))
        apply_decision(undone, record, settings=settings, store=store, embedder=embedder)
        assert not version.path.exists()
        assert latest_runs(settings)[key].path == alarms.run.path
    finally:
        records.close()


def test_a_confirmed_defect_joins_the_library_and_undo_takes_it_out(
    tiny_registry: TinyRegistry, tmp_path: Path
) -> None:
    alarms = FalseAlarms(tiny_registry, tmp_path)
    settings = alarms.settings
    worst = max((image for image in read_scores(alarms.run) if image.is_anomalous), key=lambda image: image.score)
    record = inspected(alarms.detector, tiny_registry.dataset_root / worst.image_path, settings)
    run = alarms.run.record
    confirmed = SearchFilters(run.dataset, run.category, run.model, run.run, source=PRODUCTION)
    records = RecordStore(settings)
    store, embedder = open_store(settings), Embedder(settings)
    try:
        records.record([record])
        decision = decide(records, record.id, Decision.DEFECT, user=local_user("qa"), defect_type="dent")
        apply_decision(decision, record, settings=settings, store=store, embedder=embedder)
        assert store.count(confirmed) == len(record.regions) + 1  # its regions and its image
        apply_decision(
            replace(decision, undone_at=decision.decided_at), record, settings=settings, store=store, embedder=embedder
        )
        assert store.count(confirmed) == 0
    finally:
        records.close()
