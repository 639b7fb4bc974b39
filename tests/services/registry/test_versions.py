"""A run's lineage (its trained run and the versions learned from reviews) and how each is labelled for the picker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from services.registry.runs import PARTIAL_MARK
from services.registry.versions import RunVersion, lineage, version_label
from tests.fake_runs import record, write_run


def _version(number: int, learned: int) -> dict[str, object]:
    images = tuple(f"{index:064x}" for index in range(learned))
    return RunVersion(
        number=number,
        of="r",
        derived_from="r" if number == 2 else f"r_v{number - 1}",
        added_images=images[-1:],
        learned_images=images,
        memory_bank_rows={"before": 10, "added": 1, "after": 11},
        patches="coreset",
        thresholds="kept as calibrated",
    ).as_dict()


def test_the_lineage_lists_every_version_newest_first_then_the_trained_run(tmp_path: Path) -> None:
    trained = write_run(tmp_path, record("tile"))
    second = write_run(tmp_path, replace(record("tile"), run="r_v2", version=_version(2, 1)))
    third = write_run(tmp_path, replace(record("tile"), run="r_v3", version=_version(3, 2)))
    write_run(tmp_path, replace(record("tile"), run=f"r_v4{PARTIAL_MARK}123", version=_version(4, 3)))
    write_run(tmp_path, replace(record("tile"), run="other"))
    expected = [third.path, second.path, trained.path]
    assert [run.path for run in lineage(second)] == expected
    assert [run.path for run in lineage(trained)] == expected
    assert [version_label(run) for run in lineage(third)] == [
        "v3 · 2 images learned",
        "v2 · 1 image learned",
        "v1 · as trained",
    ]


def test_a_run_without_versions_is_its_own_lineage(tmp_path: Path) -> None:
    trained = write_run(tmp_path, record("tile"))
    assert [run.path for run in lineage(trained)] == [trained.path]
