"""The progress protocol of background jobs: a command prints ``PROGRESS {json}`` lines that its worker parses.

Lines are printed only when :data:`PROGRESS_ENV` is set (the worker sets it), so a command run in a terminal keeps
its own output.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

PROGRESS_ENV = "ANOMALYLENS_JOB_PROGRESS"
PREFIX = "PROGRESS "


@dataclass(frozen=True)
class ProgressEvent:
    """Where a job stands: the fraction done (0 to 1), the stage it is in, and, at the end, what it produced."""

    fraction: float
    stage: str
    result: str = ""


def emit(fraction: float, stage: str, result: str = "") -> None:
    """Print one progress line for the job's worker; does nothing outside a job."""
    if os.environ.get(PROGRESS_ENV):
        event = ProgressEvent(fraction=min(max(fraction, 0.0), 1.0), stage=stage, result=result)
        print(PREFIX + json.dumps(asdict(event)), flush=True)


def parse(line: str) -> ProgressEvent | None:
    """The event of a ``PROGRESS {json}`` line; ``None`` for any other line or a malformed one."""
    if not line.startswith(PREFIX):
        return None
    try:
        data = json.loads(line[len(PREFIX) :])
        return ProgressEvent(
            fraction=min(max(float(data["fraction"]), 0.0), 1.0),
            stage=str(data.get("stage", "")),
            result=str(data.get("result", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None
