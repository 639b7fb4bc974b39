"""Hostile dataset folders given to ``datasets check``, ``train`` and the Train page (all call ``scan_category``):
each hostile file is one problem naming it and the rule, files outside the folder are never read, and nothing on
disk changes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.data.dataset_check import check_dataset
from services.data.datasets import IMAGE_SUFFIXES
from services.data.errors import DatasetError
from services.data.layouts import open_category
from tests.services.data.dataset_trees import folder_tree, write_image
from tests.services.data.test_images_hostile import png_with_size


@pytest.fixture
def pcb(tmp_path: Path) -> Path:
    """A usable folder dataset: 10 normals and two scratch images."""
    return folder_tree(tmp_path / "pcb", n_normals=10, defects={"scratch": 2})


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the dataset that must never be read, readable as an image."""
    return write_image(tmp_path / "private" / "secret.png", (6, 4))


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def problems_of(pcb: Path, tmp_path: Path) -> list[str]:
    """The problems ``datasets check`` lists, after checking that it changed nothing on disk."""
    before = snapshot(tmp_path)
    report = check_dataset(pcb, "folder", "pcb")
    assert snapshot(tmp_path) == before, "checking a dataset writes nothing"
    assert not report.usable
    lines = report.lines()
    assert all("\n" not in line for line in lines)
    return [str(problem) for problem in report.problems]


def _encode(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(buffer, fmt)
    return buffer.getvalue()


def _with_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("x.txt", "hidden")
    return _encode("PNG") + archive.getvalue()


def test_a_link_to_a_file_outside_the_folder_is_a_problem_and_is_never_read(
    pcb: Path, tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pcb / "good" / "n99.png").symlink_to(outside)
    read: list[Path] = []
    from services.data import datasets

    original = datasets.load_image
    monkeypatch.setattr(datasets, "load_image", lambda path, **kw: read.append(path.resolve()) or original(path, **kw))
    found = problems_of(pcb, tmp_path)
    assert found == [
        f"{pcb / 'good' / 'n99.png'} leads outside the dataset folder {pcb} (a symbolic link to {outside}): files are "
        "read only inside the dataset folder; copy the file into it"
    ]
    assert outside not in read


def test_a_linked_defect_folder_outside_the_dataset_names_each_of_its_files(
    pcb: Path, tmp_path: Path, outside: Path
) -> None:
    (pcb / "dent").symlink_to(outside.parent, target_is_directory=True)
    found = problems_of(pcb, tmp_path)
    assert len(found) == 1 and found[0].startswith(f"{pcb / 'dent' / 'secret.png'} leads outside the dataset folder")


def test_a_link_that_stays_inside_the_folder_is_accepted(pcb: Path) -> None:
    (pcb / "good" / "n99.png").symlink_to(pcb / "good" / "n00.png")
    assert check_dataset(pcb, "folder", "pcb").usable


def test_training_refuses_a_folder_with_a_link_outside_it(pcb: Path, outside: Path) -> None:
    (pcb / "scratch" / "evil.png").symlink_to(outside)
    with pytest.raises(DatasetError, match="leads outside the dataset folder"):
        open_category(pcb, "pcb", layout="folder")


@pytest.mark.parametrize("suffix", IMAGE_SUFFIXES)
def test_a_zero_byte_image_of_every_accepted_suffix_is_a_problem(pcb: Path, tmp_path: Path, suffix: str) -> None:
    (pcb / "good" / f"blank{suffix}").write_bytes(b"")
    assert problems_of(pcb, tmp_path) == [
        f"unreadable or corrupt image file {pcb / 'good' / f'blank{suffix}'}: the file is empty (0 bytes); accepted: "
        "PNG, JPEG, BMP, TIFF up to 50,000,000 pixels"
    ]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("cut.jpg", lambda: _encode("JPEG")[:200], "is truncated or corrupt"),
        ("both.png", _with_zip, "holds a zip archive besides its image"),
        ("photo.png", lambda: _encode("JPEG"), "is named .png but holds a JPEG image"),
        ("page.png", lambda: b"<html><script>alert(1)</script></html>", "is not an image"),
        ("bomb.png", lambda: png_with_size(100_000, 100_000), "possible decompression bomb"),
    ],
)
def test_a_hostile_image_file_is_one_problem_naming_it(
    pcb: Path, tmp_path: Path, name: str, data: object, reason: str
) -> None:
    (pcb / "scratch" / name).write_bytes(data())  # type: ignore[operator]
    found = problems_of(pcb, tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"unreadable or corrupt image file {pcb / 'scratch' / name}: ") and reason in found[0]


def test_a_control_character_in_a_file_name_is_written_as_its_escape(pcb: Path, tmp_path: Path) -> None:
    (pcb / "good" / "a\nusable: yes.png").write_bytes(b"")
    found = problems_of(pcb, tmp_path)
    assert found[0].startswith(
        f"unreadable or corrupt image file {pcb / 'good'}/a\\nusable: yes.png: the file is empty"
    )
    with pytest.raises(DatasetError) as error:
        open_category(pcb, "pcb", layout="folder")
    assert "\n" not in str(error.value)


def test_html_in_a_defect_folder_name_is_kept_as_data(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "pcb", n_normals=10)
    write_image(root / "<img src=x onerror=alert(1)>" / "a.png", (6, 4))
    _, data = open_category(root, "pcb", layout="folder")
    assert {sample.defect_type for sample in data.test} >= {"<img src=x onerror=alert(1)>"}
