"""A past inspection found again: its image and the very run that judged it, or each missing or changed piece named;
and the defect types a reviewer picks from (the run's and those confirmed on its product), on both databases."""

from __future__ import annotations

import hashlib

import pytest

from services.access import local_user
from services.records.image_store import ImageStore
from services.records.record import InspectionRecord
from services.records.reopen import locate
from services.records.review import Decision, decide, known_defect_types
from services.records.store import RecordStore
from services.registry.runs import Run
from services.settings import Settings
from tests.fake_runs import record as run_record
from tests.fake_runs import write_run
from tests.services.records.sample_records import sample_record

PLACEHOLDER_SHA = hashlib.sha256(b"placeholder").hexdigest()
IMAGE = b"the stored image bytes"


@pytest.fixture
def run(records_settings: Settings) -> Run:
    """A hand-written run of tile with crack and glue_strip test images (its checkpoint is ``placeholder``)."""
    rows = [
        {
            "image_path": f"{kind}.png",
            "defect_type": kind,
            "gt_label": label,
            "score": "0.5",
            "raw_score": "1",
            "pred_label": label,
            "mask_path": "",
        }
        for kind, label in (("good", "0"), ("crack", "1"), ("glue_strip", "1"))
    ]
    return write_run(records_settings.registry_dir, run_record("tile"), rows)


def _record(run: Run, settings: Settings, **changes: object) -> InspectionRecord:
    """A record judged by ``run`` on ``IMAGE``; ``changes`` replace fields."""
    values: dict[str, object] = {
        "run_id": run.relative_to(settings.registry_dir),
        "checkpoint_sha256": PLACEHOLDER_SHA,
        "image_sha256": hashlib.sha256(IMAGE).hexdigest(),
    }
    return sample_record(**{**values, **changes})


def test_an_image_kept_and_an_unchanged_run_are_reproducible(run: Run, records_settings: Settings) -> None:
    ImageStore(records_settings.records_dir).put(IMAGE)
    past = locate(_record(run, records_settings), records_settings)
    assert (past.image, past.run, past.problems, past.reproducible) == (IMAGE, run, (), True)


def test_each_missing_or_changed_piece_is_named(run: Run, records_settings: Settings) -> None:
    record = _record(run, records_settings)
    past = locate(record, records_settings)
    assert past.image is None and not past.reproducible
    (image_problem,) = past.problems
    assert image_problem.startswith(f"The image 'A1234_L07.png' (sha256 {record.image_sha256[:12]}…) is not in ")
    ImageStore(records_settings.records_dir).put(IMAGE)
    run.checkpoint.write_bytes(b"retrained")
    (changed,) = locate(record, records_settings).problems
    retrained = hashlib.sha256(b"retrained").hexdigest()
    assert changed.startswith(
        f"Run own/patchcore/tile/r has changed since this inspection: its model file model.ckpt has sha256 "
        f"{retrained[:12]}… now, {PLACEHOLDER_SHA[:12]}… then."
    )
    (gone,) = locate(_record(run, records_settings, run_id="own/patchcore/tile/removed"), records_settings).problems
    assert gone.startswith("Run own/patchcore/tile/removed is no longer in the registry")
    (outside,) = locate(_record(run, records_settings, run_id="../../etc"), records_settings).problems
    assert "no longer in the registry" in outside, "a run id leaving the registry is never opened"


def test_the_known_types_are_the_runs_and_those_confirmed_on_the_product(run: Run, records_settings: Settings) -> None:
    store = RecordStore(records_settings)
    record = _record(run, records_settings)
    other_product = _record(run, records_settings, product="leather")
    store.record([record, other_product])
    assert known_defect_types(store, record, records_settings) == ("crack", "glue_strip")
    decide(store, record.id, Decision.DEFECT, user=local_user("ana"), defect_type="dent")
    decide(store, other_product.id, Decision.DEFECT, user=local_user("ana"), defect_type="hole")
    assert known_defect_types(store, record, records_settings) == ("crack", "dent", "glue_strip")
    gone = _record(run, records_settings, run_id="own/patchcore/tile/removed")
    assert known_defect_types(store, gone, records_settings) == ("dent",)
    store.close()
