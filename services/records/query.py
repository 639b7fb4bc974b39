"""``RecordFilter``: which records the History page asks for, as a SQL statement newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Row, Select, select

from services.postprocessing.verdict import Verdict
from services.records.schema import InspectionRow

DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class RecordFilter:
    """Records recorded in ``[start, end)`` matching every field that is set; at most ``limit``, newest first."""

    start: datetime | None = None
    end: datetime | None = None
    product: str | None = None
    model: str | None = None
    verdict: Verdict | None = None
    lot: str | None = None
    operator: str | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone (records are kept in UTC), got {moment}")
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")

    def statement(self) -> Select[Row]:
        """The SELECT of the matching rows' columns, newest first (ties: by id, so the order is stable)."""
        query = select(InspectionRow.__table__)
        if self.start is not None:
            query = query.where(InspectionRow.recorded_at >= self.start.astimezone(UTC))
        if self.end is not None:
            query = query.where(InspectionRow.recorded_at < self.end.astimezone(UTC))
        equal = {
            InspectionRow.product: self.product,
            InspectionRow.model: self.model,
            InspectionRow.verdict: self.verdict.value if self.verdict else None,
            InspectionRow.lot_id: self.lot,
            InspectionRow.operator: self.operator,
        }
        for column, value in equal.items():
            if value is not None:
                query = query.where(column == value)
        return query.order_by(InspectionRow.recorded_at.desc(), InspectionRow.id.desc()).limit(self.limit)
