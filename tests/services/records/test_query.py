"""``RecordFilter`` on hand-made records: every criterion, newest first, the limit, exact rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.postprocessing.verdict import Verdict
from services.records.query import RecordFilter
from services.records.record import InspectionRecord
from services.records.store import RecordStore
from services.settings import Settings
from tests.services.records.sample_records import BASE_TIME, sample_record

HOUR = timedelta(hours=1)


@pytest.fixture
def records(records_settings: Settings) -> Iterator[tuple[RecordStore, dict[str, InspectionRecord]]]:
    """Five records an hour apart (``a`` oldest) across products, models, verdicts, lots and operators."""
    made = {
        "a": sample_record(recorded_at=BASE_TIME, verdict=Verdict.OK, lot_id="L1", operator="ana"),
        "b": sample_record(recorded_at=BASE_TIME + HOUR, model="efficientad", lot_id="L1", operator="ben"),
        "c": sample_record(recorded_at=BASE_TIME + 2 * HOUR, product="leather", verdict=Verdict.REVIEW, lot_id="L2"),
        "d": sample_record(recorded_at=BASE_TIME + 3 * HOUR, verdict=Verdict.NG, lot_id="L2", operator="ana"),
        "e": sample_record(recorded_at=BASE_TIME + 4 * HOUR, verdict=Verdict.OK, lot_id="L3", operator="ben"),
    }
    store = RecordStore(records_settings)
    store.record(list(made.values()))
    yield store, made
    store.close()


def _names(found: list[InspectionRecord], made: dict[str, InspectionRecord]) -> list[str]:
    by_id = {record.id: name for name, record in made.items()}
    return [by_id[record.id] for record in found]


@pytest.mark.parametrize(
    ("record_filter", "expected"),
    [
        (RecordFilter(), ["e", "d", "c", "b", "a"]),
        (RecordFilter(start=BASE_TIME + HOUR, end=BASE_TIME + 3 * HOUR), ["c", "b"]),
        (RecordFilter(start=BASE_TIME + 3 * HOUR), ["e", "d"]),
        (RecordFilter(product="leather"), ["c"]),
        (RecordFilter(model="efficientad"), ["b"]),
        (RecordFilter(verdict=Verdict.OK), ["e", "a"]),
        (RecordFilter(verdict=Verdict.NG, product="tile"), ["d", "b"]),
        (RecordFilter(lot="L2"), ["d", "c"]),
        (RecordFilter(operator="ana"), ["d", "a"]),
        (RecordFilter(operator="ben", lot="L1"), ["b"]),
        (RecordFilter(limit=2), ["e", "d"]),
        (RecordFilter(product="grid"), []),
    ],
)
def test_each_criterion_selects_exactly_its_records_newest_first(
    records: tuple[RecordStore, dict[str, InspectionRecord]], record_filter: RecordFilter, expected: list[str]
) -> None:
    store, made = records
    found = store.query(record_filter)
    assert _names(found, made) == expected
    assert found == [made[name] for name in expected]


def test_a_time_range_in_another_zone_means_the_same_instants(
    records: tuple[RecordStore, dict[str, InspectionRecord]],
) -> None:
    store, made = records
    plus_two = timezone(timedelta(hours=2))
    start = (BASE_TIME + 2 * HOUR).astimezone(plus_two)
    assert _names(store.query(RecordFilter(start=start, end=start + HOUR)), made) == ["c"]


def test_a_filter_refuses_times_without_a_zone_and_a_limit_below_one() -> None:
    with pytest.raises(ValueError, match="must carry a time zone"):
        RecordFilter(start=datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="limit must be at least 1"):
        RecordFilter(limit=0)
    assert RecordFilter(end=datetime(2026, 12, 1, tzinfo=UTC)).end is not None
