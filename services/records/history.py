"""What the History page reads beside the records: the filters' choices and the NG rate and REVIEW count over time.

Both are computed over every matching record (not only the newest ``limit`` the table lists), from indexed columns.
Records the product gate found foreign are counted apart, never as NG.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, select

from services.postprocessing.verdict import Verdict
from services.records.query import RecordFilter
from services.records.schema import InspectionRow
from services.records.store import RecordStore

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOURLY_UP_TO = timedelta(days=2)
"""Ranges up to two days are counted per hour, longer ones per day."""
BUCKET_FORMATS = {HOUR: ("YYYY-MM-DD HH24", "%Y-%m-%d %H", 13), DAY: ("YYYY-MM-DD", "%Y-%m-%d", 10)}
"""Each bucket's text in PostgreSQL's ``to_char`` and Python's ``strptime``, and its length (``2026-12-01 08``)."""


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


def _bucket_column(dialect: str, size: timedelta) -> ColumnElement[str]:
    """The UTC hour (``YYYY-MM-DD HH``) or day (``YYYY-MM-DD``) of each record as text, computed by the database.

    SQLite keeps the UTC time as ISO text, so it is a prefix; PostgreSQL formats the instant in UTC."""
    column = InspectionRow.recorded_at
    if dialect == "sqlite":
        return func.substr(column, 1, BUCKET_FORMATS[size][2])
    return func.to_char(func.timezone("UTC", column), BUCKET_FORMATS[size][0])


def count_buckets(
    counts: list[tuple[datetime, str, bool | None, int]], start: datetime, end: datetime
) -> list[TrendBucket]:
    """``(bucket start, verdict, foreign_part, records)`` counts laid out per hour or day of ``[start, end)``, empty
    buckets included (so a quiet hour shows as zero, not as a gap)."""
    size = bucket_size(start, end)
    buckets: dict[datetime, TrendBucket] = {}
    moment = _floor(start, size)
    while moment < end:
        buckets[moment] = TrendBucket(start=moment)
        moment += size
    for key, verdict, foreign, count in counts:
        bucket = buckets.get(key, TrendBucket(start=key))
        if foreign:
            buckets[key] = replace(bucket, foreign=bucket.foreign + count)
            continue
        buckets[key] = replace(
            bucket,
            inspected=bucket.inspected + count,
            ng=bucket.ng + count * (verdict == Verdict.NG),
            review=bucket.review + count * (verdict == Verdict.REVIEW),
        )
    return [buckets[key] for key in sorted(buckets)]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def trend(store: RecordStore, record_filter: RecordFilter, now: datetime | None = None) -> list[TrendBucket]:
    """The filter's records (its limit aside) counted per hour or day by the database, over its time range: from
    its start (else the oldest match) to its end (else ``now``, else the newest match)."""
    conditions = record_filter.conditions()
    column = InspectionRow.recorded_at
    with store.reading() as connection:
        oldest, newest = connection.execute(select(func.min(column), func.max(column)).where(*conditions)).one()
        if oldest is None:
            return []
        start = record_filter.start or _utc(oldest)
        end = record_filter.end or max(now or _utc(newest), _utc(newest) + timedelta(microseconds=1))
        size = bucket_size(start, end)
        bucket = _bucket_column(connection.dialect.name, size).label("bucket")
        query = (
            select(bucket, InspectionRow.verdict, InspectionRow.foreign_part, func.count())
            .where(*conditions)
            .group_by(bucket, InspectionRow.verdict, InspectionRow.foreign_part)
        )
        counts = [
            (datetime.strptime(text, BUCKET_FORMATS[size][1]).replace(tzinfo=UTC), verdict, foreign, int(count))
            for text, verdict, foreign, count in connection.execute(query)
        ]
    return count_buckets(counts, start, end)
