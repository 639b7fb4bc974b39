"""The review queue on both databases: what waits, decisions and undo with their exact rows, refusals, and the
false-alarm images the learning loop reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from services.access import AccessDeniedError, ActingUser, Role, local_user
from services.postprocessing.verdict import Verdict
from services.records.record import InspectionRecord
from services.records.review import (
    Decision,
    ReviewDecision,
    ReviewError,
    decide,
    decisions,
    false_alarm_images,
    pending,
    pending_count,
    undo,
)
from services.records.schema import ReviewDecisionRow
from services.records.store import RecordStore
from services.settings import Settings
from tests.services.records.sample_records import BASE_TIME, sample_record

MINUTE = timedelta(minutes=1)
DECIDED = BASE_TIME + timedelta(days=1)


@pytest.fixture
def queue(records_settings: Settings) -> Iterator[tuple[RecordStore, dict[str, InspectionRecord]]]:
    """Six records a minute apart (``ok`` oldest): OK, REVIEW, NG, a foreign NG, NG on leather, REVIEW."""
    made = {
        "ok": sample_record(recorded_at=BASE_TIME, verdict=Verdict.OK),
        "review": sample_record(recorded_at=BASE_TIME + MINUTE, verdict=Verdict.REVIEW, image_sha256="01" * 32),
        "ng": sample_record(recorded_at=BASE_TIME + 2 * MINUTE, verdict=Verdict.NG, image_sha256="02" * 32),
        "foreign": sample_record(recorded_at=BASE_TIME + 3 * MINUTE, verdict=Verdict.NG, foreign_part=True),
        "leather": sample_record(recorded_at=BASE_TIME + 4 * MINUTE, product="leather", image_sha256="03" * 32),
        "late": sample_record(recorded_at=BASE_TIME + 5 * MINUTE, verdict=Verdict.REVIEW, foreign_part=None),
    }
    store = RecordStore(records_settings)
    assert store.record(list(made.values())).written == 6
    yield store, made
    store.close()


def _names(found: list[InspectionRecord], made: dict[str, InspectionRecord]) -> list[str]:
    by_id = {record.id: name for name, record in made.items()}
    return [by_id[record.id] for record in found]


def test_the_queue_holds_review_and_ng_records_newest_first_without_ok_or_foreign_ones(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = queue
    assert _names(pending(store), made) == ["late", "leather", "ng", "review"]
    assert pending(store) == [made[name] for name in ("late", "leather", "ng", "review")]
    assert _names(pending(store, product="tile"), made) == ["late", "ng", "review"]
    assert _names(pending(store, limit=2), made) == ["late", "leather"]
    assert pending_count(store) == {Verdict.REVIEW: 2, Verdict.NG: 2}
    assert pending_count(store, product="leather") == {Verdict.REVIEW: 0, Verdict.NG: 1}


def test_a_false_alarm_leaves_the_queue_and_is_recorded_with_every_field(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = queue
    made_decision = decide(
        store,
        made["ng"].id,
        Decision.FALSE_ALARM,
        user=local_user(" ana "),
        note="glare on the edge\nsecond line",
        now=DECIDED,
    )
    assert made_decision == ReviewDecision(
        id=made_decision.id,
        record_id=made["ng"].id,
        decision=Decision.FALSE_ALARM,
        defect_type=None,
        note="glare on the edge\nsecond line",
        reviewer="ana",
        decided_at=DECIDED,
    )
    assert made_decision.standing
    assert decisions(store) == [made_decision]
    assert _names(pending(store), made) == ["late", "leather", "review"]
    assert pending_count(store) == {Verdict.REVIEW: 2, Verdict.NG: 1}
    assert false_alarm_images(store, "tile") == ["02" * 32]
    assert false_alarm_images(store, "leather") == []


def test_undo_returns_the_record_to_the_queue_keeps_the_decision_and_allows_a_new_one(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = queue
    first = decide(store, made["review"].id, Decision.DEFECT, user=local_user("ana"), defect_type="crack", now=DECIDED)
    undone = undo(store, first.id, user=local_user("ben"), now=DECIDED + MINUTE)
    assert undone.undone_at == DECIDED + MINUTE and undone.undone_by == "ben" and not undone.standing
    assert (undone.id, undone.decision, undone.defect_type) == (first.id, Decision.DEFECT, "crack")
    assert undone.reviewer == "ana"
    assert _names(pending(store), made) == ["late", "leather", "ng", "review"]
    second = decide(store, made["review"].id, Decision.FALSE_ALARM, user=local_user("ben"), now=DECIDED + 2 * MINUTE)
    assert decisions(store, record_id=made["review"].id) == [second, undone]
    assert decisions(store, record_id=made["ng"].id) == []
    assert _names(pending(store), made) == ["late", "leather", "ng"]
    assert false_alarm_images(store, "tile") == ["01" * 32]


def test_false_alarm_images_are_the_standing_false_alarms_of_the_product_each_once_in_decision_order(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = queue
    again = sample_record(recorded_at=BASE_TIME + 6 * MINUTE, verdict=Verdict.NG, image_sha256="02" * 32)
    store.record([again])
    decide(store, made["ng"].id, Decision.FALSE_ALARM, user=local_user("ana"), now=DECIDED + 2 * MINUTE)
    decide(store, again.id, Decision.FALSE_ALARM, user=local_user("ana"), now=DECIDED + 3 * MINUTE)
    decide(store, made["review"].id, Decision.FALSE_ALARM, user=local_user("ana"), now=DECIDED + 4 * MINUTE)
    decide(store, made["late"].id, Decision.DEFECT, user=local_user("ana"), defect_type="crack", now=DECIDED)
    decide(store, made["leather"].id, Decision.FALSE_ALARM, user=local_user("ana"), now=DECIDED)
    assert false_alarm_images(store, "tile") == ["02" * 32, "01" * 32]
    assert false_alarm_images(store, "leather") == ["03" * 32]
    assert pending(store) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((Decision.DEFECT, None, "", "ana"), "the defect type is empty: give 1 to 64 characters"),
        ((Decision.DEFECT, "  ", "", "ana"), "the defect type is empty"),
        ((Decision.DEFECT, "x" * 65, "", "ana"), "the defect type has 65 characters: at most 64"),
        ((Decision.DEFECT, "crack\x1b[31m", "", "ana"), "holds a control character: give it as plain text"),
        ((Decision.FALSE_ALARM, "crack", "", "ana"), "a false alarm has no defect type, got 'crack'"),
        ((Decision.FALSE_ALARM, None, "n" * 2001, "ana"), "the note has 2001 characters: at most 2000"),
        ((Decision.FALSE_ALARM, None, "", " "), "the reviewer is empty"),
    ],
)
def test_a_decision_with_bad_values_is_refused_naming_the_rule_and_nothing_is_written(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
    values: tuple[Decision, str | None, str, str],
    message: str,
) -> None:
    store, made = queue
    decision, defect_type, note, reviewer = values
    with pytest.raises(ReviewError, match=message):
        decide(store, made["ng"].id, decision, user=local_user(reviewer), defect_type=defect_type, note=note)
    assert decisions(store) == []


def test_an_unknown_record_a_second_decision_and_a_second_undo_are_refused(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = queue
    with pytest.raises(ReviewError, match="no inspection record has the id 'nope'"):
        decide(store, "nope", Decision.FALSE_ALARM, user=local_user("ana"))
    first = decide(store, made["ng"].id, Decision.FALSE_ALARM, user=local_user("ana"), now=DECIDED)
    with pytest.raises(ReviewError, match="already has a decision: undo it first"):
        decide(store, made["ng"].id, Decision.DEFECT, user=local_user("ben"), defect_type="crack")
    undo(store, first.id, user=local_user("ana"), now=DECIDED + MINUTE)
    with pytest.raises(ReviewError, match=f"decision {first.id} was already undone at 2026-12-02T08:01:00.123456"):
        undo(store, first.id, user=local_user("ana"))
    with pytest.raises(ReviewError, match="no review decision has the id 'nope'"):
        undo(store, "nope", user=local_user("ana"))
    assert [decision.undone_at for decision in decisions(store)] == [DECIDED + MINUTE]


def test_the_database_refuses_a_second_standing_decision_on_one_record(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    """Two reviewers at once: both pass the check, the partial unique index lets only one commit."""
    store, made = queue
    first = decide(store, made["ng"].id, Decision.FALSE_ALARM, user=local_user("ana"), now=DECIDED)
    row = {**vars(first), "id": "second", "decided_at": DECIDED.astimezone(UTC)}
    with pytest.raises(IntegrityError), store.writing() as connection:
        connection.execute(ReviewDecisionRow.__table__.insert().values(**row))
    undo(store, first.id, user=local_user("ana"))
    with store.writing() as connection:
        connection.execute(ReviewDecisionRow.__table__.insert().values(**row))
    assert [decision.id for decision in decisions(store) if decision.standing] == ["second"]


def test_an_operator_may_not_decide_or_undo_and_nothing_changes(
    queue: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = queue
    operator = ActingUser("olga", Role.OPERATOR, signed_in=True)
    with pytest.raises(AccessDeniedError, match=r"^olga \(operator\) may not review inspections: that needs the engi"):
        decide(store, made["ng"].id, Decision.FALSE_ALARM, user=operator)
    assert decisions(store) == []
    made_decision = decide(
        store, made["ng"].id, Decision.FALSE_ALARM, user=ActingUser("emil", Role.ENGINEER, signed_in=True)
    )
    assert made_decision.reviewer == "emil"
    with pytest.raises(AccessDeniedError, match="olga"):
        undo(store, made_decision.id, user=operator)
    assert decisions(store) == [made_decision]
