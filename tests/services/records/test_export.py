"""CSV and JSON exports of a list of records: exact text, in the order given."""

from __future__ import annotations

import csv
import io
import json

from services.postprocessing.verdict import Verdict
from services.records.export import COLUMNS, export_csv, export_json
from services.records.record import InspectionRecord
from tests.services.records.sample_records import sample_record


def test_csv_has_every_field_with_nested_values_as_json_and_unknown_ones_empty() -> None:
    first = sample_record(id="00000000-0000-0000-0000-000000000001")
    second = sample_record(
        id="00000000-0000-0000-0000-000000000002", verdict=Verdict.OK, regions=(), neighbour_vote=None, raw_score=None
    )
    text = export_csv([first, second])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(COLUMNS)
    assert len(rows) == 3
    one, two = (dict(zip(rows[0], row, strict=True)) for row in rows[1:])
    assert one["id"] == first.id and two["id"] == second.id
    assert one["recorded_at"] == "2026-12-01T08:00:00.123456+00:00"
    assert (one["verdict"], two["verdict"]) == ("NG", "OK")
    assert json.loads(one["regions"]) == [{"area_px": 96, "bbox": [3, 4, 10, 12], "peak_score": 0.9375}]
    assert json.loads(one["neighbour_vote"]) == {"crack": 3, "glue_strip": 1}
    assert (two["regions"], two["neighbour_vote"], two["raw_score"], two["operator"]) == ("[]", "null", "", "")
    assert (one["score"], one["threshold_pixel"], one["foreign_part"]) == ("0.8125", "0.625", "False")


def test_json_reads_back_to_the_same_records() -> None:
    records = [sample_record(), sample_record(operator="ana", verdict=Verdict.REVIEW)]
    loaded = json.loads(export_json(records))
    assert [item["id"] for item in loaded] == [record.id for record in records]
    assert [InspectionRecord.from_row(item) for item in loaded] == records


def test_an_empty_list_exports_a_header_and_an_empty_array() -> None:
    assert export_csv([]) == ",".join(COLUMNS) + "\n"
    assert export_json([]) == "[]"
