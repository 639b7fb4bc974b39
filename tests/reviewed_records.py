"""Inspection records of real images judged by a tiny trained run, in a registry of their own: what a review decision
acts on, for the learning tests (the session's tiny registry stays untouched)."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.inference.detector import Detector
from services.records.capture import InspectionContext, inspection_record
from services.records.image_store import ImageStore
from services.records.part_id import PartId
from services.records.record import InspectionRecord
from services.registry.runs import Run, load_run
from services.settings import Settings


def registry_settings(tmp_path: Path) -> Settings:
    """Settings with an empty registry (and so an embedded Qdrant store and records folder) under ``tmp_path``."""
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "weights")


def copy_run(run: Run, settings: Settings) -> Run:
    """``run`` copied to the same place in ``settings``' registry."""
    parts = run.path.parts[-4:]  # <dataset>/<model>/<category>/<run>
    target = settings.registry_dir.joinpath(*parts)
    shutil.copytree(run.path, target)
    return load_run(target)


def inspected(detector: Detector, image: Path, settings: Settings) -> InspectionRecord:
    """The record of ``image`` judged by ``detector`` at its calibrated thresholds, its bytes in the image store."""
    data = image.read_bytes()
    sha256 = ImageStore(settings.records_dir).put(data)
    prediction = detector.predict(data, name=image.name)
    return inspection_record(
        prediction,
        detector.run,
        detector.choice,
        settings=settings,
        context=InspectionContext.of(settings),
        image_sha256=sha256,
        image_name=image.name,
        part=PartId(),
        budget=settings.false_alarm_budget,
    )
