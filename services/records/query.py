"""``RecordFilter``: which records the History page asks for, as a SQL statement newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Row, Select, false, or_, select, true

from services.postprocessing.verdict import Verdict
from services.records.schema import InspectionRow

DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class RecordFilter:
    """Records recorded in ``[start, end)`` matching every field that is set; at most ``limit``, newest first.

    ``foreign``: ``True`` keeps the records the product gate found foreign ("not this product"), ``False`` the others
    (a gate answer of no, or no gate)."""

    start: datetime | None = None
    end: datetime | None = None
    product: str | None = None
    model: str | None = None
    verdict: Verdict | None = None
    lot: str | None = None
    operator: str | None = None
    foreign: bool | None = None
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone (records are kept in UTC), got {moment}")
        if self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions of the set fields (the limit aside), for any SELECT over the records table."""
        found: list[ColumnElement[bool]] = []
        if self.start is not None:
            found.append(InspectionRow.recorded_at >= self.start.astimezone(UTC))
        if self.end is not None:
            found.append(InspectionRow.recorded_at < self.end.astimezone(UTC))
        equal = {
            InspectionRow.product: self.product,
            InspectionRow.model: self.model,
            InspectionRow.verdict: self.verdict.value if self.verdict else None,
            InspectionRow.lot_id: self.lot,
            InspectionRow.operator: self.operator,
        }
        found.extend(column == value for column, value in equal.items() if value is not None)
        if self.foreign is not None:
            found.append(foreign_condition(self.foreign))
        return found

    def statement(self) -> Select[Row]:
        """The SELECT of the matching rows' columns, newest first (ties: by id, so the order is stable)."""
        query = select(InspectionRow.__table__).where(*self.conditions())
        return query.order_by(InspectionRow.recorded_at.desc(), InspectionRow.id.desc()).limit(self.limit)


def foreign_condition(foreign: bool) -> ColumnElement[bool]:
    """Records the product gate found foreign (``True``), or the others: its answer no, or no gate (``False``)."""
    if foreign:
        return InspectionRow.foreign_part == true()
    return or_(InspectionRow.foreign_part.is_(None), InspectionRow.foreign_part == false())
