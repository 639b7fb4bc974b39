"""Whether a run's false-alarm promise holds on the line: parts marked as false alarms on the Review page, counted
against every part the run judged at the thresholds of a budget.

Calibration can only promise what the normal images it rests on show; where new parts differ from all of them (the
confirmation set's forest floor), the promise breaks and no rule fitted to those normals can tell. The records can:
good parts are at most all parts judged, so false alarms over all parts judged is a lower bound on the rate among
good parts, and its interval is judged by the rule the benchmarks judge a promise by
(:func:`services.postprocessing.false_alarm.promise_holds`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from services.postprocessing.false_alarm import FalseAlarmEvidence, observed_interval, promise_holds
from services.records.query import foreign_condition
from services.records.review import standing_false_alarm
from services.records.schema import InspectionRow, ReviewDecisionRow
from services.records.store import RecordStore

BUDGET_TOLERANCE = 1e-9
"""Records store the budget as a float; a record belongs to a budget within this distance of it."""


@dataclass(frozen=True)
class LineEvidence:
    """What the records show about one run's false alarms at one budget."""

    run_id: str
    budget: float
    parts: int
    """Distinct images the run judged at the thresholds of ``budget`` (foreign parts and manual thresholds left out)."""
    false_alarms: int
    """Of those images, the ones whose standing review decision is a false alarm."""

    @property
    def rate_interval(self) -> tuple[float, float] | None:
        """The 95 % interval of false alarms over all parts judged (the rate among good parts is at least its lower
        end); ``None`` before any part was judged."""
        return observed_interval(self.false_alarms, self.parts) if self.parts else None

    def breaks(self, promise: FalseAlarmEvidence) -> bool:
        """Whether the marked false alarms alone exceed what ``promise`` allows, even if every part judged was good."""
        return self.parts > 0 and not promise_holds(promise, self.false_alarms, self.parts)


def line_evidence(store: RecordStore, budget: float) -> dict[str, LineEvidence]:
    """Per run id with records at ``budget``: the parts judged and the false alarms marked among them (raises
    ``SQLAlchemyError`` where the database is down)."""
    judged = (
        InspectionRow.false_alarm_budget.between(budget - BUDGET_TOLERANCE, budget + BUDGET_TOLERANCE),
        foreign_condition(False),
    )
    parts = select(InspectionRow.run_id, func.count(func.distinct(InspectionRow.image_sha256))).where(*judged)
    marked = (
        select(InspectionRow.run_id, func.count(func.distinct(InspectionRow.image_sha256)))
        .join(ReviewDecisionRow, ReviewDecisionRow.record_id == InspectionRow.id)
        .where(*judged, standing_false_alarm())
    )
    with store.reading() as connection:
        counts = dict(connection.execute(parts.group_by(InspectionRow.run_id)).all())
        alarms = dict(connection.execute(marked.group_by(InspectionRow.run_id)).all())
    return {
        run_id: LineEvidence(run_id, budget, int(count), int(alarms.get(run_id, 0))) for run_id, count in counts.items()
    }
