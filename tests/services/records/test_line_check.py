"""The promise checked on the line, on both databases: parts judged at a budget and false alarms marked among them,
each image counted once, and the break judged by the benchmarks' rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.access import local_user
from services.postprocessing.false_alarm import evidence_for
from services.postprocessing.verdict import Verdict
from services.records.line_check import LineEvidence, line_evidence
from services.records.review import Decision, decide, undo
from services.records.store import RecordStore
from services.settings import Settings
from tests.services.records.sample_records import BASE_TIME, sample_record

RUN_A, RUN_B = "own/patchcore/forest_floor/lite2", "own/patchcore/gravel/lite2"
PROMISE = evidence_for([float(score) for score in range(80)], threshold=100.0, rule="quantile", budget=0.01)
"""80 normals, none above the threshold: the promise allows up to 1 − 0.025^(1/80) ≈ 4.5 % (its 95 % upper end)."""


def _image(i: int) -> str:
    return f"{i:064x}"


def test_parts_and_false_alarms_are_counted_per_run_at_the_budget_each_image_once(records_settings: Settings) -> None:
    store = RecordStore(records_settings)
    at_budget = [sample_record(run_id=RUN_A, image_sha256=_image(i), verdict=Verdict.NG) for i in range(10)]
    again = sample_record(run_id=RUN_A, image_sha256=_image(0), recorded_at=BASE_TIME + timedelta(minutes=1))
    others = [
        sample_record(run_id=RUN_A, image_sha256=_image(20), false_alarm_budget=None),  # manual thresholds
        sample_record(run_id=RUN_A, image_sha256=_image(21), foreign_part=True),  # the gate answered it
        sample_record(run_id=RUN_A, image_sha256=_image(22), false_alarm_budget=0.05),
        sample_record(run_id=RUN_B, image_sha256=_image(30), verdict=Verdict.OK),
        sample_record(run_id=RUN_B, image_sha256=_image(31), verdict=Verdict.OK),
    ]
    assert store.record([*at_budget, again, *others]).written == 16
    user = local_user("ana")
    for record in (at_budget[0], again, at_budget[1], at_budget[2]):  # image 0 twice: one false alarm
        decide(store, record.id, Decision.FALSE_ALARM, user=user)
    undone = decide(store, at_budget[3].id, Decision.FALSE_ALARM, user=user)
    undo(store, undone.id, user=user)
    decide(store, at_budget[4].id, Decision.DEFECT, user=user, defect_type="stain")
    decide(store, others[0].id, Decision.FALSE_ALARM, user=user)  # judged at manual thresholds: not the budget's

    found = line_evidence(store, 0.01)
    assert found == {RUN_A: LineEvidence(RUN_A, 0.01, 10, 3), RUN_B: LineEvidence(RUN_B, 0.01, 2, 0)}
    assert line_evidence(store, 0.05) == {RUN_A: LineEvidence(RUN_A, 0.05, 1, 0)}
    assert line_evidence(store, 0.02) == {}
    store.close()


def test_three_false_alarms_in_ten_parts_break_a_promise_of_at_most_4_5_percent() -> None:
    assert PROMISE.interval[1] == pytest.approx(1 - 0.025 ** (1 / 80))
    three = LineEvidence(RUN_A, 0.01, 10, 3)
    assert three.rate_interval[0] == pytest.approx(0.0667, abs=1e-4), "Clopper–Pearson lower end of 3/10"
    assert three.breaks(PROMISE)
    one = LineEvidence(RUN_A, 0.01, 10, 1)
    assert one.rate_interval[0] == pytest.approx(1 - 0.975 ** (1 / 10), abs=1e-6)
    assert not one.breaks(PROMISE), "1 in 10 is still within what 4.5 % allows"
    assert not LineEvidence(RUN_A, 0.01, 0, 0).breaks(PROMISE)
    assert LineEvidence(RUN_A, 0.01, 0, 0).rate_interval is None
