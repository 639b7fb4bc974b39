"""What the History page reads beside the records: the filters' choices and the NG rate and REVIEW count over time.

Both are computed over every matching record (not only the newest ``limit`` the table lists), from indexed columns.
Records the product gate found foreign are counted apart, never as NG.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select

from services.postprocessing.verdict import Verdict
from services.records.query import RecordFilter
from services.records.schema import InspectionRow
from services.records.store import RecordStore

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURLY_UP_TO = timedelta(days=2)
"""Ranges up to two days are counted per hour, longer ones per day."""


@dataclass(frozen=True)
class FilterChoices:
    """The distinct values the records hold, sorted, for the History filters (empty values left out)."""

    products: tuple[str, ...]
    models: tuple[str, ...]
    lots: tuple[str, ...]
    operators: tuple[str, ...]


def _distinct(store: RecordStore, query: Select) -> tuple[str, ...]:
    with store.reading() as connection:
        return tuple(sorted(value for value in connection.execute(query).scalars() if value))


def filter_choices(store: RecordStore) -> FilterChoices:
    """Every product, model, lot and operator found in the records (raises ``SQLAlchemyError`` where it is down)."""
    return FilterChoices(
        products=_distinct(store, select(InspectionRow.product).distinct()),
        models=_distinct(store, select(InspectionRow.model).distinct()),
        lots=_distinct(store, select(InspectionRow.lot_id).distinct()),
        operators=_distinct(store, select(InspectionRow.operator).distinct()),
    )


@dataclass(frozen=True)
class TrendBucket:
    """One hour or day (UTC) of matching records: inspected parts of the product, NG, REVIEW and foreign ones."""

    start: datetime
    inspected: int = 0
    """Records that are not foreign: the NG rate's denominator."""
    ng: int = 0
    review: int = 0
    foreign: int = 0

    @property
    def ng_rate(self) -> float | None:
        """NG among the inspected parts of the product (``None`` where none was inspected)."""
        return self.ng / self.inspected if self.inspected else None


def bucket_size(start: datetime, end: datetime) -> timedelta:
    """An hour for a range up to two days, else a day."""
    return HOUR if end - start <= HOURLY_UP_TO else DAY


def _floor(moment: datetime, size: timedelta) -> datetime:
    moment = moment.astimezone(UTC)
    if size == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def count_buckets(rows: list[tuple[datetime, str, bool | None]], start: datetime, end: datetime) -> list[TrendBucket]:
    """``(recorded_at, verdict, foreign_part)`` rows counted per hour or day of ``[start, end)``, empty buckets
    included (so a quiet hour shows as zero, not as a gap)."""
    size = bucket_size(start, end)
    buckets: dict[datetime, TrendBucket] = {}
    moment = _floor(start, size)
    while moment < end:
        buckets[moment] = TrendBucket(start=moment)
        moment += size
    for recorded_at, verdict, foreign in rows:
        moment = recorded_at if recorded_at.tzinfo else recorded_at.replace(tzinfo=UTC)
        key = _floor(moment, size)
        bucket = buckets.get(key, TrendBucket(start=key))
        if foreign:
            buckets[key] = replace(bucket, foreign=bucket.foreign + 1)
            continue
        buckets[key] = replace(
            bucket,
            inspected=bucket.inspected + 1,
            ng=bucket.ng + (verdict == Verdict.NG),
            review=bucket.review + (verdict == Verdict.REVIEW),
        )
    return [buckets[key] for key in sorted(buckets)]


def trend(store: RecordStore, record_filter: RecordFilter, now: datetime | None = None) -> list[TrendBucket]:
    """The filter's records (its limit aside) per hour or day, over its time range: from its start (else the oldest
    match) to its end (else ``now``, else the newest match)."""
    query = select(InspectionRow.recorded_at, InspectionRow.verdict, InspectionRow.foreign_part).where(
        *record_filter.conditions()
    )
    with store.reading() as connection:
        rows = [(row[0], row[1], row[2]) for row in connection.execute(query)]
    if not rows:
        return []
    times = [moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment, _, _ in rows]
    start = record_filter.start or min(times)
    end = record_filter.end or max(now or max(times), max(times) + timedelta(microseconds=1))
    return count_buckets(rows, start, end)
