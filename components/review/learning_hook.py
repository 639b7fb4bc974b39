"""The learning loop's one entry point: the Review page calls :func:`on_decision` after every decision and undo.

Interface (wired by the learning-loop services, issue #15 item 4):

- ``on_decision(decision, record)`` receives the :class:`~services.records.review.ReviewDecision` as recorded and the
  :class:`~services.records.record.InspectionRecord` it concerns. ``decision.standing`` is ``True`` for a new
  decision and ``False`` once it is undone (``undone_at`` and ``undone_by`` set), so one callable does and undoes:
  a confirmed defect (``decision.decision is Decision.DEFECT``, with ``decision.defect_type``) adds the record's
  regions to the similar-defect library with ``source: production``; a false alarm on a PatchCore run adds the image
  (``record.image_sha256``, bytes in the records' image store) to a new version of the run's memory bank; undo
  removes either. EfficientAd's false alarms need no hook: its next training reads
  :func:`services.records.review.false_alarm_images`.
- It runs after the decision is committed, in the page's script thread; what it raises is shown as a warning and
  logged, and the decision stays recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from services.records.record import InspectionRecord
from services.records.review import ReviewDecision

DecisionHook = Callable[[ReviewDecision, InspectionRecord], None]
LOGGER = logging.getLogger("anomalylens.review")


def on_decision(decision: ReviewDecision, record: InspectionRecord) -> None:
    """Placeholder of the learning loop: nothing learns from a decision yet (see the module's interface)."""


def notify(hook: DecisionHook, decision: ReviewDecision, record: InspectionRecord) -> str:
    """Call ``hook``; why it failed (logged with its traceback), or empty where it did not."""
    try:
        hook(decision, record)
    except Exception as exc:  # the decision is recorded whatever the learning step does
        LOGGER.exception("learning hook failed on decision %s", decision.id)
        return f"{type(exc).__name__}: {exc}"
    return ""
