"""A false alarm on a PatchCore run learned as the run's next version: the image scores OK, the old version stays."""

from __future__ import annotations

import csv
import io
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.data.images import read_rgb
from services.inference.detector import Detector
from services.learning.false_alarms import (
    THRESHOLDS_KEPT,
    FalseAlarmLearningError,
    index_version,
    learn_false_alarms,
    undo_version,
)
from services.modeling.factory import load_model
from services.records.image_store import ImageStore
from services.registry import runs as registry
from services.registry.artefacts import read_scores
from services.registry.normal_scores import NORMAL_SCORES
from services.registry.runs import Run, latest_runs, load_run, manifest_status
from services.registry.versions import RunVersion, VersionError, remove_version
from services.settings import Settings
from services.similarity.cases import CaseLibrary
from services.similarity.crop_embedder import Embedder
from services.similarity.index import index_run
from services.similarity.production import add_confirmed_defect, remove_confirmed_defect
from services.similarity.store import PRODUCTION, SearchFilters, open_store
from tests.conftest import TinyRegistry
from tests.reviewed_records import copy_run, inspected, registry_settings

pytestmark = pytest.mark.slow

ROWS_PER_IMAGE = 13
"""What one image adds to the tiny run's bank: its 64 px input at EfficientNet-Lite2 ``blocks.2`` (stride 8) is an
8 × 8 patch grid, times the coreset ratio 0.2: ceil(64 × 0.2) = ceil(12.8)."""
LIGHTING = (0.55, 0.7, 1.35, 1.6)
"""Brightness factors tried on a good test part to make a held-out normal image the run judges NG."""


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def _raw_peaks(run: Run) -> dict[str, float]:
    with (run.path / registry.PREDICTIONS).open(newline="") as handle:
        return {row["image_path"]: float(row["raw_map_peak"]) for row in csv.DictReader(handle)}


class FalseAlarms:
    """A copy of the tiny PatchCore run in a registry of its own, and normal parts under other lighting it judges NG."""

    def __init__(self, tiny: TinyRegistry, tmp_path: Path) -> None:
        self.settings: Settings = registry_settings(tmp_path)
        self.run = copy_run(tiny.runs["patchcore"], self.settings)
        self.detector = Detector(self.run, self.settings, backend="torch")
        store = ImageStore(self.settings.records_dir)
        goods = [tiny.dataset_root / image.image_path for image in read_scores(self.run) if not image.is_anomalous]
        self.images: list[str] = []
        for path in goods:
            for factor in LIGHTING:
                lit = np.clip(read_rgb(path).astype(np.float32) * factor, 0, 255).astype(np.uint8)
                data = _png(lit)
                if self.detector.predict(data).score > 0.5:
                    self.images.append(store.put(data))
                    break
        assert len(self.images) >= 2, "two good parts under other lighting are false alarms of the tiny run"

    def score(self, run: Run, sha256: str) -> float:
        path = ImageStore(self.settings.records_dir).path(sha256)
        return Detector(run, self.settings, backend="torch").predict(path).score


@pytest.fixture(scope="module")
def alarms(tiny_registry: TinyRegistry, tmp_path_factory: pytest.TempPathFactory) -> FalseAlarms:
    return FalseAlarms(tiny_registry, tmp_path_factory.mktemp("false_alarms"))


@pytest.fixture(scope="module")
def learned(alarms: FalseAlarms) -> Run:
    return learn_false_alarms(alarms.run, alarms.images[:1], alarms.settings, device="cpu", progress=lambda _: None).run


def test_the_false_alarm_scores_below_the_threshold_in_the_new_version(alarms: FalseAlarms, learned: Run) -> None:
    sha = alarms.images[0]
    assert alarms.score(alarms.run, sha) > 0.5
    assert alarms.score(learned, sha) < 0.5


def test_the_new_version_sits_beside_the_old_one_and_becomes_the_default(alarms: FalseAlarms, learned: Run) -> None:
    parent = alarms.run
    assert learned.path == parent.path.with_name(f"{parent.record.run}_v2")
    assert learned.record.run == f"{parent.record.run}_v2"
    assert manifest_status(parent.path) == manifest_status(learned.path) == "ok"
    key = (parent.record.dataset, "patchcore", parent.record.category)
    assert latest_runs(alarms.settings)[key].path == learned.path
    assert {run.path for run in registry.list_runs(alarms.settings)} == {parent.path, learned.path}


def test_the_version_says_what_it_derives_from_and_what_it_added(alarms: FalseAlarms, learned: Run) -> None:
    version = RunVersion.of_record(learned.record)
    assert version is not None
    assert (version.number, version.of, version.derived_from) == (2, alarms.run.record.run, alarms.run.record.run)
    assert version.added_images == version.learned_images == (alarms.images[0],)
    before = len(load_model("patchcore", alarms.run.checkpoint).model.memory_bank)
    after = len(load_model("patchcore", learned.checkpoint).model.memory_bank)
    assert version.memory_bank_rows == {"before": before, "added": ROWS_PER_IMAGE, "after": before + ROWS_PER_IMAGE}
    assert after == before + ROWS_PER_IMAGE
    assert (version.patches, version.thresholds) == ("coreset", THRESHOLDS_KEPT)


def test_thresholds_and_their_evidence_are_kept_and_no_test_map_scores_higher(
    alarms: FalseAlarms, learned: Run
) -> None:
    assert learned.record.thresholds == alarms.run.record.thresholds
    assert (learned.path / NORMAL_SCORES).read_bytes() == (alarms.run.path / NORMAL_SCORES).read_bytes()
    before, after = _raw_peaks(alarms.run), _raw_peaks(learned)
    assert before.keys() == after.keys()
    assert all(after[image] <= before[image] + 1e-5 for image in before)  # a larger bank only shortens distances
    assert set(learned.record.metrics) == set(alarms.run.record.metrics)


def test_learning_from_a_version_numbers_the_next_and_undo_restores_the_default(
    alarms: FalseAlarms, learned: Run
) -> None:
    with pytest.raises(FalseAlarmLearningError, match="has learned every one of these images already"):
        learn_false_alarms(learned, alarms.images[:1], alarms.settings, device="cpu", progress=lambda _: None)
    third = learn_false_alarms(learned, alarms.images[:2], alarms.settings, device="cpu", progress=lambda _: None)
    version = third.version
    assert third.run.record.run == f"{alarms.run.record.run}_v3"
    assert (version.derived_from, version.added_images) == (learned.record.run, (alarms.images[1],))
    assert version.learned_images == (alarms.images[0], alarms.images[1])
    assert alarms.score(alarms.run, alarms.images[1]) > 0.5  # a false alarm of the trained run
    assert third.scores_after[alarms.images[1]] <= third.scores_before[alarms.images[1]]
    assert third.scores_after[alarms.images[1]] < 0.5
    key = (alarms.run.record.dataset, "patchcore", alarms.run.record.category)
    assert latest_runs(alarms.settings)[key].path == third.run.path
    remove_version(third.run)
    assert not third.run.path.exists()
    assert latest_runs(alarms.settings)[key].path == learned.path
    with pytest.raises(VersionError, match="is a trained run, not a version"):
        remove_version(alarms.run)
    assert alarms.run.path.is_dir()


def test_an_efficientad_run_or_an_unknown_image_is_refused(alarms: FalseAlarms, tiny_registry: TinyRegistry) -> None:
    with pytest.raises(FalseAlarmLearningError, match=r"\(EfficientAd\) cannot learn false alarms without retraining"):
        learn_false_alarms(tiny_registry.runs["efficientad"], alarms.images[:1], alarms.settings)
    with pytest.raises(FalseAlarmLearningError, match=f"image {'0' * 64} is not in the records' image store"):
        learn_false_alarms(alarms.run, ["0" * 64], alarms.settings)


def test_a_run_without_a_test_split_learns_with_its_test_metrics_unavailable(alarms: FalseAlarms) -> None:
    imported = alarms.settings.registry_dir / "imported" / "patchcore" / "tile" / "imported-0123456789ab"
    shutil.copytree(alarms.run.path, imported, ignore=shutil.ignore_patterns("predictions.csv", "maps.npz", "heatmaps"))
    learned = learn_false_alarms(load_run(imported), alarms.images[:1], alarms.settings, progress=lambda _: None)
    record = learned.run.record
    assert all(math.isnan(value) for value in record.metrics.values())
    assert all(reason.endswith("was never scored on a test split") for reason in record.unavailable.values())
    assert not (learned.run.path / registry.PREDICTIONS).exists()
    assert learned.scores_after[alarms.images[0]] < 0.5
    shutil.rmtree(imported.parent)  # its record still says synthetic/tile: leave the other tests' default run alone


def test_a_version_gets_a_library_with_the_confirmed_defects_and_undo_removes_both(
    alarms: FalseAlarms, learned: Run, tiny_registry: TinyRegistry
) -> None:
    settings = alarms.settings
    store, embedder = open_store(settings), Embedder(settings)
    index_run(alarms.run, store, embedder)
    worst = max((image for image in read_scores(alarms.run) if image.is_anomalous), key=lambda image: image.score)
    record = inspected(alarms.detector, tiny_registry.dataset_root / worst.image_path, settings)
    add_confirmed_defect(record, "dent", settings=settings, store=store, embedder=embedder, detector=alarms.detector)

    held = index_version(learned, settings, store, embedder)
    version = learned.record
    confirmed = SearchFilters(version.dataset, version.category, version.model, version.run, source=PRODUCTION)
    tested = replace(confirmed, source="test")
    assert store.count(confirmed) == len(record.regions) + 1  # its regions and its image, now in the version's space
    assert store.count(tested) > 0
    assert held == store.count(confirmed) + store.count(tested)
    case = next(
        item for item in CaseLibrary(learned, store, embedder, settings).cases() if item.payload.source == PRODUCTION
    )
    assert case.payload.record_id == record.id
    assert CaseLibrary(learned, store, embedder, settings).thumbnail(case.payload).image.size > 0

    assert remove_confirmed_defect(record.id, settings=settings, store=store) == 2 * (len(record.regions) + 1)
    undo_version(learned, store)
    assert not learned.path.exists()
    assert store.count(tested) == 0
    key = (alarms.run.record.dataset, "patchcore", alarms.run.record.category)
    assert latest_runs(settings)[key].path == alarms.run.path
