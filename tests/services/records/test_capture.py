"""A record made from a judged prediction and its run: run id, checksum, backbone, thresholds, verdict, dedup key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from services.data.datasets import file_sha256
from services.inference.backend_choice import BackendChoice
from services.inference.detector import Prediction
from services.postprocessing.verdict import Verdict
from services.records.capture import InspectionContext, ThresholdBand, dedup_key, inspection_record, run_backbone
from services.records.part_id import PartId
from services.records.record import InspectionRecord, RegionSummary
from services.registry.runs import Run, write_manifest
from services.settings import Settings
from services.training.product_gate import ForeignCheck
from tests.fake_runs import record, write_run

CHOICE = BackendChoice(requested="auto", backend="openvino", precision="bf16", device="cpu")


@pytest.fixture
def run(tmp_path: Path) -> Run:
    metrics = replace(record("tile", dataset="synthetic"), config={"backbone": "tf_efficientnet_lite0"})
    written = write_run(tmp_path / "models", metrics)
    write_manifest(written.path)
    return written


def _prediction(score: float) -> Prediction:
    anomaly_map = np.zeros((32, 32), dtype=np.float32)
    anomaly_map[4:12, 8:20] = 0.9
    judged = Prediction("part.png", "patchcore", "r", score, 0.5, anomaly_map, (), raw_score=2.5).at_threshold(0.5, 0.6)
    return replace(judged, foreign=ForeignCheck(product="tile", distance=0.2, threshold=0.3))


def _record(run: Run, tmp_path: Path, score: float = 0.75, **changes: object) -> InspectionRecord:
    settings = Settings(registry_dir=tmp_path / "models", station="line-3")
    arguments = {
        "settings": settings,
        "context": InspectionContext.of(settings, session="session-1"),
        "image_sha256": "ab" * 32,
        "image_name": "P1_L2.png",
        "part": PartId("P1", "L2"),
        "budget": 0.01,
        **changes,
    }
    return inspection_record(_prediction(score), run, CHOICE, **arguments)


def test_a_record_names_the_run_its_checkpoint_and_what_ran_it(run: Run, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    made = _record(run, tmp_path)
    assert before <= made.recorded_at <= datetime.now(UTC)
    assert (made.station, made.part_id, made.lot_id, made.operator) == ("line-3", "P1", "L2", None)
    assert (made.product, made.model, made.run_id) == ("tile", "patchcore", "synthetic/patchcore/tile/r")
    assert made.checkpoint_sha256 == file_sha256(run.checkpoint)
    assert (made.backbone, made.backend, made.precision) == ("tf_efficientnet_lite0", "openvino", "bf16")
    assert (made.raw_score, made.score, made.false_alarm_budget) == (2.5, 0.75, 0.01)
    assert (made.threshold_lower, made.threshold_upper, made.threshold_pixel) == (0.5, 0.5, 0.6)
    assert made.verdict is Verdict.NG
    assert made.regions == (RegionSummary(bbox=(8, 4, 12, 8), area_px=96, peak_score=pytest.approx(0.9)),)
    assert made.foreign_part is False


def test_a_widened_band_judges_between_its_ends_as_review(run: Run, tmp_path: Path) -> None:
    band = ThresholdBand(lower=0.4, upper=0.8, pixel=0.6)
    assert _record(run, tmp_path, thresholds=band).verdict is Verdict.REVIEW
    assert _record(run, tmp_path, score=0.3, thresholds=band).verdict is Verdict.OK


def test_the_dedup_key_is_one_per_session_image_run_and_thresholds(run: Run, tmp_path: Path) -> None:
    band = ThresholdBand(lower=0.5, upper=0.5, pixel=0.6)
    first, again = _record(run, tmp_path), _record(run, tmp_path)
    assert first.id != again.id
    assert first.dedup_key == again.dedup_key == dedup_key("session-1", "ab" * 32, run, band)
    assert dedup_key("session-2", "ab" * 32, run, band) != first.dedup_key
    assert dedup_key("session-1", "ab" * 32, run, replace(band, pixel=0.7)) != first.dedup_key
    assert dedup_key("", "ab" * 32, run, band) is None


def test_a_teacher_trained_run_names_its_teacher_as_the_feature_extractor(run: Run) -> None:
    efficientad = replace(run, record=replace(run.record, model="efficientad", config={"teacher": "distilled"}))
    assert run_backbone(efficientad) == "pdn-teacher:distilled"
    assert run_backbone(run) == "tf_efficientnet_lite0"
