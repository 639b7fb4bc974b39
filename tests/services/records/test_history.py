"""What the History page reads beside the records, on both databases: the filters' choices, counts of matching
records and the NG rate and REVIEW count per hour or day (foreign parts apart), with hand-computed values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.postprocessing.verdict import Verdict
from services.records.history import DAY, HOUR, FilterChoices, TrendBucket, bucket_size, filter_choices, trend
from services.records.query import RecordFilter
from services.records.record import NOT_THIS_PRODUCT
from services.records.store import RecordStore
from services.settings import Settings
from tests.services.records.sample_records import sample_record

EIGHT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def store(records_settings: Settings) -> Iterator[RecordStore]:
    """Within 08:00–10:00: at 8 h one OK, two NG, one REVIEW, one foreign NG; at 9 h nothing; at 10 h one OK on
    leather by EfficientAd (lot L2, operator ana); then one NG three days later."""
    made = [
        sample_record(recorded_at=EIGHT, verdict=Verdict.OK),
        sample_record(recorded_at=EIGHT + MINUTE, verdict=Verdict.NG),
        sample_record(recorded_at=EIGHT + 2 * MINUTE, verdict=Verdict.NG, foreign_part=None),
        sample_record(recorded_at=EIGHT + 3 * MINUTE, verdict=Verdict.REVIEW),
        sample_record(recorded_at=EIGHT + 4 * MINUTE, verdict=Verdict.NG, foreign_part=True),
        sample_record(
            recorded_at=EIGHT + 2 * HOUR,
            verdict=Verdict.OK,
            product="leather",
            model="efficientad",
            lot_id="L2",
            operator="ana",
        ),
        sample_record(recorded_at=EIGHT + 3 * DAY, verdict=Verdict.NG, lot_id=""),
    ]
    records = RecordStore(records_settings)
    records.record(made)
    yield records
    records.close()


def test_the_filter_choices_are_the_distinct_values_in_the_records_without_empty_ones(store: RecordStore) -> None:
    assert filter_choices(store) == FilterChoices(
        products=("leather", "tile"), models=("efficientad", "patchcore"), lots=("L07", "L2"), operators=("ana",)
    )


def test_counts_and_the_foreign_criterion_match_exactly(store: RecordStore) -> None:
    assert store.count() == 7
    assert store.count(RecordFilter(verdict=Verdict.NG, limit=1)) == 4
    assert store.count(RecordFilter(verdict=Verdict.NG, foreign=False)) == 3
    assert store.count(RecordFilter(foreign=True)) == 1
    assert store.count(RecordFilter(foreign=False)) == 6
    (foreign,) = store.query(RecordFilter(foreign=True))
    assert foreign.shown_verdict == NOT_THIS_PRODUCT and foreign.verdict is Verdict.NG
    assert [record.shown_verdict for record in store.query(RecordFilter(end=EIGHT + 2 * MINUTE))] == ["NG", "OK"]


def test_a_range_up_to_two_days_is_counted_per_hour_with_quiet_hours_as_zero(store: RecordStore) -> None:
    buckets = trend(store, RecordFilter(start=EIGHT, end=EIGHT + 3 * HOUR))
    assert buckets == [
        TrendBucket(start=EIGHT, inspected=4, ng=2, review=1, foreign=1),
        TrendBucket(start=EIGHT + HOUR),
        TrendBucket(start=EIGHT + 2 * HOUR, inspected=1),
    ]
    assert [bucket.ng_rate for bucket in buckets] == [0.5, None, 0.0]


def test_a_longer_range_is_counted_per_day_from_the_oldest_match_to_now(store: RecordStore) -> None:
    midnight = EIGHT.replace(hour=0)
    buckets = trend(store, RecordFilter(product="tile"), now=EIGHT + 4 * DAY)
    assert buckets == [
        TrendBucket(start=midnight, inspected=4, ng=2, review=1, foreign=1),
        TrendBucket(start=midnight + DAY),
        TrendBucket(start=midnight + 2 * DAY),
        TrendBucket(start=midnight + 3 * DAY, inspected=1, ng=1),
        TrendBucket(start=midnight + 4 * DAY),
    ]
    assert trend(store, RecordFilter(product="grid")) == []


def test_the_bucket_is_an_hour_up_to_two_days_and_a_day_beyond() -> None:
    assert bucket_size(EIGHT, EIGHT + 2 * DAY) == HOUR
    assert bucket_size(EIGHT, EIGHT + 2 * DAY + MINUTE) == DAY
