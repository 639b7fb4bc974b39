"""Hand-made inspection records for store, query and export tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.postprocessing.verdict import Verdict
from services.records.record import InspectionRecord, RegionSummary

BASE_TIME = datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=UTC)


def sample_record(**changes: Any) -> InspectionRecord:
    """A complete NG record on tile by PatchCore with one region; ``changes`` replace fields (a fresh id each)."""
    record = InspectionRecord(
        id=str(uuid.uuid4()),
        recorded_at=BASE_TIME,
        station="station-1",
        part_id="A1234",
        lot_id="L07",
        operator=None,
        image_sha256="ab" * 32,
        image_name="A1234_L07.png",
        product="tile",
        model="patchcore",
        run_id="synthetic/patchcore/tile/lite0",
        checkpoint_sha256="cd" * 32,
        backbone="tf_efficientnet_lite0",
        backend="openvino",
        precision="f32",
        raw_score=3.25,
        score=0.8125,
        threshold_lower=0.5,
        threshold_upper=0.5,
        threshold_pixel=0.625,
        verdict=Verdict.NG,
        false_alarm_budget=0.01,
        regions=(RegionSummary(bbox=(3, 4, 10, 12), area_px=96, peak_score=0.9375),),
        neighbour_vote={"crack": 3, "glue_strip": 1},
        foreign_part=False,
    )
    return replace(record, **changes)
