"""check_dataset and ``python -m services.cli datasets check``: counts, masks, sizes and notes, or every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli.commands import build_parser, main
from services.data.dataset_check import DefectCount, check_dataset
from tests.services.data.dataset_trees import folder_tree, write_image


@pytest.fixture
def pcb(tmp_path: Path) -> Path:
    """10 normals and a normal test JPEG of another size; solder_bridge ×2 (one masked), missing_pin ×1."""
    root = folder_tree(tmp_path / "pcb_connector", n_normals=10, defects={"solder_bridge": 2, "missing_pin": 1})
    write_image(root / "good_test" / "t0.jpg", (12, 9))
    write_image(root / "masks" / "solder_bridge" / "solder_bridge_0.png", (6, 4), 255, "L")
    return root


EXPECTED = """\
folder layout, category pcb_connector (masks optional): {root}
  split defect type    images  masks
  train good               10      -
  test  good                1      -
  test  missing_pin         1      0
  test  solder_bridge       2      1
masks: 1 of 3 defect images
image sizes: 2 distinct, smallest 6x4, largest 12x9
note: 2 of 3 defect images have no mask: they count at image level only; pixel metrics use the 1 with masks
usable: yes
"""


def test_report_counts_each_split_and_defect_type_with_masks_and_sizes(pcb: Path) -> None:
    report = check_dataset(pcb, "folder", "pcb_connector")
    assert report.counts == (
        DefectCount("train", "good", 10, 0),
        DefectCount("test", "good", 1, 0),
        DefectCount("test", "missing_pin", 1, 0),
        DefectCount("test", "solder_bridge", 2, 1),
    )
    assert report.sizes == ((6, 4), (12, 9))
    assert report.usable
    assert "\n".join(report.lines()) + "\n" == EXPECTED.format(root=pcb.resolve())


def test_cli_prints_the_report_and_exits_0_when_usable(
    pcb: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANOMALYLENS_SEED", "0")
    assert main(["datasets", "check", str(pcb), "--layout", "folder", "--category", "pcb_connector"]) == 0
    assert capsys.readouterr().out == EXPECTED.format(root=pcb.resolve())


def test_cli_lists_every_problem_with_its_file_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANOMALYLENS_SEED", "0")
    root = folder_tree(tmp_path / "washer", n_normals=1, defects={"dent": 1})
    (root / "dent" / "dent_0.png").write_bytes(b"")
    assert main(["datasets", "check", str(root), "--masks", "required"]) == 2
    out = capsys.readouterr().out.splitlines()
    good, dent = root.resolve() / "good", root.resolve() / "dent" / "dent_0.png"
    assert out[out.index("not usable: 3 problems") :] == [
        "not usable: 3 problems",
        f"  - defect image {dent} has no mask: expected {root.resolve() / 'masks' / 'dent' / 'dent_0'}.png or "
        f"{root.resolve() / 'masks' / 'dent_0'}.png (any image suffix, '_mask' after the stem accepted)",
        f"  - too few normal images in {good}: 1 found, at least 5 are needed (2 to fit the model on, 2 held out to "
        "calibrate its thresholds, and 1 held out for testing)",
        f"  - unreadable or corrupt image file {dent}: the file is empty (0 bytes); accepted: PNG, JPEG, BMP, TIFF up "
        "to 50,000,000 pixels",
    ]


def test_commands_take_any_safe_category_and_refuse_an_unsafe_one(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["report"]).categories is None  # every category the runs hold
    assert parser.parse_args(["benchmark"]).categories == ["tile", "leather", "grid"]
    chosen = parser.parse_args(["benchmark", "--categories", "bottle", "pcb_connector"]).categories
    assert chosen == ["bottle", "pcb_connector"]
    for argv in (["report", "--categories", "tile", "../etc"], ["datasets", "check", ".", "--category", "../etc"]):
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(argv)
        assert exited.value.code == 2
        assert "unsafe category name '../etc': a category name is 1 to 64 letters" in capsys.readouterr().err
