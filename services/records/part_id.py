"""A part's id and lot id: typed on the page, or found in the file name by ``ANOMALYLENS_PART_ID_PATTERN``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

LOT_SEPARATOR = "/"


@dataclass(frozen=True)
class PartId:
    """The part and lot an inspected image shows; empty where unknown."""

    part: str = ""
    lot: str = ""


def typed_part_id(text: str) -> PartId:
    """``"A1234 / L07"`` → part ``A1234``, lot ``L07``; text without ``/`` is the part id alone."""
    part, _, lot = text.partition(LOT_SEPARATOR)
    return PartId(part=part.strip(), lot=lot.strip())


def parsed_part_id(file_name: str, pattern: str) -> PartId:
    """The groups ``part`` and ``lot`` of ``pattern`` searched in the file's name; empty when nothing matches."""
    if not pattern:
        return PartId()
    match = re.search(pattern, PurePath(file_name).name)
    if match is None:
        return PartId()
    found = match.groupdict()
    return PartId(part=found.get("part") or "", lot=found.get("lot") or "")


def part_id_for(file_name: str, typed: str, pattern: str) -> PartId:
    """The typed id where one was typed, else the one parsed from the file name."""
    return typed_part_id(typed) if typed.strip() else parsed_part_id(file_name, pattern)
