"""The review queue: REVIEW and NG records an engineer marks as a confirmed defect or a false alarm.

Every decision is a row of ``review_decisions`` (who, when, what, the defect type and a note); undoing one sets its
``undone_at`` and ``undone_by`` rather than deleting it, so the history of decisions stays complete, and the record
returns to the queue. The database holds at most one standing (not undone) decision per record (a partial unique
index), so two reviewers deciding the same record at once cannot both succeed.

The learning loop reads decisions through :func:`false_alarm_images` (EfficientAd's next training) and through the
:class:`ReviewDecision` that :func:`decide` and :func:`undo` return (the page hands it to its ``on_decision`` hook).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from services.access import ActingUser, Action, require
from services.data.errors import printable
from services.postprocessing.verdict import Verdict
from services.records.query import DEFAULT_LIMIT, foreign_condition
from services.records.record import InspectionRecord
from services.records.reopen import find_run
from services.records.schema import InspectionRow, ReviewDecisionRow
from services.records.store import RecordStore
from services.registry.artefacts import defect_types
from services.settings import Settings

QUEUE_VERDICTS = (Verdict.REVIEW, Verdict.NG)
"""Verdicts that wait for a person (a foreign part is never queued: the gate answered it)."""
MAX_DEFECT_TYPE = 64
MAX_NOTE = 2000
MAX_REVIEWER = 128


class Decision(StrEnum):
    """What a reviewer concludes about a recorded inspection."""

    DEFECT = "defect"
    FALSE_ALARM = "false_alarm"

    @property
    def label(self) -> str:
        """``confirmed defect`` or ``false alarm``."""
        return "confirmed defect" if self is Decision.DEFECT else "false alarm"


class ReviewError(ValueError):
    """A decision or undo refused: the message names the record or decision, the rule and what is accepted."""


@dataclass(frozen=True)
class ReviewDecision:
    """One decision on one record; ``undone_at`` is set once it is undone (the record is then back in the queue)."""

    id: str
    record_id: str
    decision: Decision
    defect_type: str | None
    """The confirmed defect's type; ``None`` for a false alarm."""
    note: str
    reviewer: str
    decided_at: datetime
    """UTC."""
    undone_at: datetime | None = None
    undone_by: str | None = None

    @property
    def standing(self) -> bool:
        """Whether the decision holds (is not undone)."""
        return self.undone_at is None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReviewDecision:
        """Read back from database columns (a time without zone, as SQLite returns it, is UTC)."""
        return cls(
            id=row["id"],
            record_id=row["record_id"],
            decision=Decision(row["decision"]),
            defect_type=row["defect_type"],
            note=row["note"],
            reviewer=row["reviewer"],
            decided_at=_utc(row["decided_at"]),
            undone_at=None if row["undone_at"] is None else _utc(row["undone_at"]),
            undone_by=row["undone_by"],
        )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _checked_text(what: str, value: str, longest: int, *, required: bool) -> str:
    """``value`` stripped; refused when empty (where required), longer than ``longest`` or holding a control
    character other than a line break in a note."""
    value = value.strip()
    if required and not value:
        raise ReviewError(f"the {what} is empty: give 1 to {longest} characters")
    if len(value) > longest:
        raise ReviewError(f"the {what} has {len(value)} characters: at most {longest} are kept")
    allowed = value.replace("\n", "") if what == "note" else value
    if printable(allowed) != allowed:
        raise ReviewError(f"the {what} {printable(value)!r} holds a control character: give it as plain text")
    return value


def _standing(record_id: Any) -> Any:
    return and_(ReviewDecisionRow.record_id == record_id, ReviewDecisionRow.undone_at.is_(None))


def standing_false_alarm() -> Any:
    """The condition on a joined decision row: a false alarm that is not undone."""
    return and_(ReviewDecisionRow.decision == Decision.FALSE_ALARM.value, ReviewDecisionRow.undone_at.is_(None))


def decide(
    store: RecordStore,
    record_id: str,
    decision: Decision,
    *,
    user: ActingUser,
    defect_type: str | None = None,
    note: str = "",
    now: datetime | None = None,
) -> ReviewDecision:
    """Record ``decision`` on the record by ``user`` (the reviewer); a confirmed defect needs its type, a false alarm
    has none. Refused for a user who may not review (``AccessDeniedError``), an unknown record or one that already has a
    standing decision (``ReviewError``: undo that first)."""
    require(user, Action.REVIEW)
    if decision is Decision.DEFECT:
        defect_type = _checked_text("defect type", defect_type or "", MAX_DEFECT_TYPE, required=True)
    elif defect_type:
        raise ReviewError(f"a false alarm has no defect type, got {printable(defect_type)!r}")
    made = ReviewDecision(
        id=str(uuid.uuid4()),
        record_id=record_id,
        decision=decision,
        defect_type=defect_type or None,
        note=_checked_text("note", note, MAX_NOTE, required=False),
        reviewer=_checked_text("reviewer", user.name, MAX_REVIEWER, required=True),
        decided_at=(now or datetime.now(UTC)).astimezone(UTC),
    )
    try:
        with store.writing() as connection:
            if connection.execute(select(InspectionRow.id).where(InspectionRow.id == record_id)).first() is None:
                raise ReviewError(f"no inspection record has the id {printable(record_id)!r}")
            if connection.execute(select(ReviewDecisionRow.id).where(_standing(record_id))).first() is not None:
                raise ReviewError(_already_decided(record_id))
            connection.execute(ReviewDecisionRow.__table__.insert().values(**vars(made)))
    except IntegrityError as exc:  # another reviewer's decision committed between the check and the insert
        raise ReviewError(_already_decided(record_id)) from exc
    return made


def _already_decided(record_id: str) -> str:
    return f"record {record_id} already has a decision: undo it first to decide again"


def undo(store: RecordStore, decision_id: str, *, user: ActingUser, now: datetime | None = None) -> ReviewDecision:
    """Mark a standing decision undone by ``user`` (its record returns to the queue); refused for a user who may not
    review (``AccessDeniedError``) and for an unknown or already undone decision."""
    require(user, Action.REVIEW)
    reviewer = _checked_text("reviewer", user.name, MAX_REVIEWER, required=True)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    table = ReviewDecisionRow.__table__
    with store.writing() as connection:
        changed = connection.execute(
            update(table)
            .where(table.c.id == decision_id, table.c.undone_at.is_(None))
            .values(undone_at=moment, undone_by=reviewer)
        ).rowcount
        row = connection.execute(select(table).where(table.c.id == decision_id)).mappings().first()
    if row is None:
        raise ReviewError(f"no review decision has the id {printable(decision_id)!r}")
    if not changed:
        raise ReviewError(f"decision {decision_id} was already undone at {_utc(row['undone_at']).isoformat()}")
    return ReviewDecision.from_row(dict(row))


def _queue(product: str | None) -> Select:
    """REVIEW and NG records that are not foreign and have no standing decision (of ``product``, where given)."""
    query = (
        select(InspectionRow.__table__)
        .where(InspectionRow.verdict.in_([verdict.value for verdict in QUEUE_VERDICTS]))
        .where(foreign_condition(False))
        .where(~exists().where(_standing(InspectionRow.id)))
    )
    return query if product is None else query.where(InspectionRow.product == product)


def pending(store: RecordStore, *, product: str | None = None, limit: int = DEFAULT_LIMIT) -> list[InspectionRecord]:
    """The queue, newest first: at most ``limit`` REVIEW and NG records still to decide."""
    query = _queue(product).order_by(InspectionRow.recorded_at.desc(), InspectionRow.id.desc()).limit(limit)
    with store.reading() as connection:
        rows = connection.execute(query).mappings().all()
    return [InspectionRecord.from_row(dict(row)) for row in rows]


def pending_count(store: RecordStore, *, product: str | None = None) -> dict[Verdict, int]:
    """How many records wait, per verdict (REVIEW, NG), every one counted."""
    waiting = _queue(product).subquery()
    query = select(waiting.c.verdict, func.count()).group_by(waiting.c.verdict)
    with store.reading() as connection:
        counts = {Verdict(verdict): int(count) for verdict, count in connection.execute(query)}
    return {verdict: counts.get(verdict, 0) for verdict in QUEUE_VERDICTS}


def decisions(store: RecordStore, *, record_id: str | None = None, limit: int = DEFAULT_LIMIT) -> list[ReviewDecision]:
    """The decisions made (undone ones included), newest first; those on one record where ``record_id`` is given."""
    table = ReviewDecisionRow.__table__
    query = select(table).order_by(table.c.decided_at.desc(), table.c.id.desc()).limit(limit)
    if record_id is not None:
        query = query.where(table.c.record_id == record_id)
    with store.reading() as connection:
        return [ReviewDecision.from_row(dict(row)) for row in connection.execute(query).mappings()]


def false_alarm_images(store: RecordStore, category: str) -> list[str]:
    """The image sha256s of ``category``'s records whose standing decision is a false alarm, each once, in the
    order they were first decided: the extra normal images of the product's next training."""
    query = (
        select(InspectionRow.image_sha256, func.min(ReviewDecisionRow.decided_at).label("first"))
        .join(ReviewDecisionRow, ReviewDecisionRow.record_id == InspectionRow.id)
        .where(InspectionRow.product == category, standing_false_alarm())
        .group_by(InspectionRow.image_sha256)
        .order_by("first", InspectionRow.image_sha256)
    )
    with store.reading() as connection:
        return [row[0] for row in connection.execute(query)]


def known_defect_types(store: RecordStore, record: InspectionRecord, settings: Settings) -> tuple[str, ...]:
    """The types a reviewer picks from for ``record``: its run's test defect types (while the run is in the
    registry) and the types already confirmed on its product, sorted."""
    run = find_run(record, settings)
    try:
        from_run = set(defect_types(run)) if run is not None else set()
    except (OSError, ValueError, KeyError):  # a run without readable test scores (an imported model) has none
        from_run = set()
    query = (
        select(ReviewDecisionRow.defect_type)
        .join(InspectionRow, ReviewDecisionRow.record_id == InspectionRow.id)
        .where(InspectionRow.product == record.product, ReviewDecisionRow.decision == Decision.DEFECT.value)
        .where(ReviewDecisionRow.undone_at.is_(None))
        .distinct()
    )
    with store.reading() as connection:
        confirmed = {value for value in connection.execute(query).scalars() if value}
    return tuple(sorted(from_run | confirmed))
