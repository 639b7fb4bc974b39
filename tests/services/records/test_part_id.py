"""Part and lot ids: typed, or found in the file name by the configured pattern."""

from __future__ import annotations

from services.records.part_id import PartId, parsed_part_id, part_id_for, typed_part_id

PATTERN = r"(?P<part>P\d+)(?:_(?P<lot>L\d+))?"


def test_typed_text_is_the_part_and_after_a_slash_the_lot() -> None:
    assert typed_part_id(" A1234 / L07 ") == PartId(part="A1234", lot="L07")
    assert typed_part_id("A1234") == PartId(part="A1234", lot="")


def test_the_pattern_finds_part_and_optional_lot_in_the_file_name() -> None:
    assert parsed_part_id("camera2/P0042_L7_top.png", PATTERN) == PartId(part="P0042", lot="L7")
    assert parsed_part_id("P0042.png", PATTERN) == PartId(part="P0042", lot="")
    assert parsed_part_id("image.png", PATTERN) == PartId()
    assert parsed_part_id("P0042.png", "") == PartId()


def test_a_typed_id_wins_over_the_file_name() -> None:
    assert part_id_for("P0042_L7.png", "X9 / L1", PATTERN) == PartId(part="X9", lot="L1")
    assert part_id_for("P0042_L7.png", "  ", PATTERN) == PartId(part="P0042", lot="L7")
