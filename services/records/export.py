"""Records as CSV or JSON text for download: one row or object per record, in the order given."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import fields

from services.records.record import InspectionRecord

COLUMNS = tuple(field.name for field in fields(InspectionRecord))
NESTED = ("regions", "neighbour_vote")
"""Columns holding lists or objects: JSON text inside a CSV cell."""


def export_json(records: Sequence[InspectionRecord]) -> str:
    """A JSON array of the records (times in ISO 8601 UTC)."""
    return json.dumps([record.to_json_dict() for record in records], indent=2, sort_keys=True)


def _cell(name: str, value: object) -> object:
    if name in NESTED:
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def export_csv(records: Sequence[InspectionRecord]) -> str:
    """CSV with a header of every field; regions and the neighbour vote as JSON text, unknown values empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in records:
        values = record.to_json_dict()
        writer.writerow([_cell(name, values[name]) for name in COLUMNS])
    return buffer.getvalue()
