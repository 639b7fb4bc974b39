"""An ``InspectionRecord`` made from what the Inspect page (or any caller) has: a judged prediction and its run."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.inference.backend_choice import BackendChoice
from services.inference.detector import Prediction
from services.modeling.model_table import model_spec
from services.postprocessing.verdict import judge
from services.records.part_id import PartId
from services.records.record import InspectionRecord, RegionSummary
from services.registry.runs import Run
from services.settings import Settings


@dataclass(frozen=True)
class InspectionContext:
    """Where and by whom images are inspected; ``session`` scopes the dedup key (empty: no dedup key)."""

    station: str
    operator: str | None = None
    session: str = ""

    @classmethod
    def of(cls, settings: Settings, operator: str | None = None, session: str = "") -> InspectionContext:
        """The settings' station with an operator and a session."""
        return cls(station=settings.station, operator=operator, session=session)


@dataclass(frozen=True)
class ThresholdBand:
    """The thresholds an image was judged at (normalised scale): the REVIEW band ``(lower, upper]`` and the map's."""

    lower: float
    upper: float
    pixel: float

    @classmethod
    def of(cls, prediction: Prediction) -> ThresholdBand:
        """A judged prediction's single threshold as both ends of the band (REVIEW empty), and its map threshold."""
        return cls(lower=prediction.threshold, upper=prediction.threshold, pixel=prediction.map_threshold)


def run_backbone(run: Run) -> str:
    """What extracts the run's features: its backbone, or its PDN teacher for a teacher-trained model."""
    config = run.record.config
    if model_spec(run.record.model).uses_teacher:
        return f"pdn-teacher:{config.get('teacher', 'unknown')}"
    return str(config.get("backbone", ""))


def dedup_key(session: str, image_sha256: str, run: Run, thresholds: ThresholdBand) -> str | None:
    """One key per (session, image, run version, thresholds); ``None`` without a session."""
    if not session:
        return None
    parts = [session, image_sha256, str(run.path), run.record.created_at, *map(repr, vars(thresholds).values())]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def inspection_record(
    prediction: Prediction,
    run: Run,
    choice: BackendChoice,
    *,
    settings: Settings,
    context: InspectionContext,
    image_sha256: str,
    image_name: str,
    part: PartId,
    budget: float | None,
    thresholds: ThresholdBand | None = None,
    neighbour_vote: dict[str, Any] | None = None,
) -> InspectionRecord:
    """The record of ``prediction`` (judged already) from ``run`` as ``choice`` ran it, now, with a fresh id;
    ``thresholds`` default to the prediction's own (the REVIEW band empty)."""
    band = thresholds or ThresholdBand.of(prediction)
    return InspectionRecord(
        id=str(uuid.uuid4()),
        recorded_at=datetime.now(UTC),
        station=context.station,
        part_id=part.part,
        lot_id=part.lot,
        operator=context.operator,
        image_sha256=image_sha256,
        image_name=image_name,
        product=run.record.category,
        model=run.record.model,
        run_id=run.relative_to(settings.registry_dir),
        checkpoint_sha256=run.model_sha256(),
        backbone=run_backbone(run),
        backend=choice.backend,
        precision=choice.precision,
        raw_score=prediction.raw_score,
        score=prediction.score,
        threshold_lower=band.lower,
        threshold_upper=band.upper,
        threshold_pixel=band.pixel,
        verdict=judge(prediction.score, band.lower, band.upper),
        false_alarm_budget=budget,
        regions=tuple(RegionSummary.of(region) for region in prediction.regions),
        neighbour_vote=neighbour_vote,
        foreign_part=None if prediction.foreign is None else prediction.foreign.is_foreign,
        dedup_key=dedup_key(context.session, image_sha256, run, band),
    )
