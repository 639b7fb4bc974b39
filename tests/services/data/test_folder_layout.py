"""Folder layout: held-out normals, normal test folder, masks by stem (optional or required), good-only data, and
the problems of each folder named with its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.data.category_data import NO_DEFECTS_NOTE
from services.data.errors import DatasetError
from services.data.folder_layout import FolderSpec, held_out_for_test, normals_needed, read_folder
from tests.services.data.dataset_trees import folder_tree, write_image


def _names(samples: tuple) -> list[str]:
    return [sample.path.name for sample in samples]


@pytest.mark.parametrize(("n_normals", "held"), [(1, 0), (2, 0), (3, 1), (5, 1), (7, 1), (8, 2), (10, 2), (13, 3)])
def test_held_out_normals_are_a_fifth_at_least_one_keeping_two_to_train(n_normals: int, held: int) -> None:
    """round(0.2 n), at least 1, and only while n - held >= 2: 3 -> 1 (2 stay), 8 -> round(1.6) = 2, 13 -> 3."""
    assert held_out_for_test(n_normals, 0.2) == held


def test_normals_needed_to_train_calibrate_and_test() -> None:
    """2 to fit + 2 to calibrate = 4 with normal test images; 5 without (5 - round(1.0) = 4)."""
    assert (normals_needed(0.2, True), normals_needed(0.2, False)) == (4, 5)


def test_ten_normals_without_normal_test_folder_hold_two_out_seeded(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "pcb_connector", n_normals=10)
    data, problems = read_folder(root, "pcb_connector", seed=3)
    assert problems == []
    assert (len(data.train), len(data.test)) == (8, 2)
    assert sorted(_names(data.train) + _names(data.test)) == [f"n{index:02d}.png" for index in range(10)]
    assert all(sample.split == "test" and sample.defect_type == "good" for sample in data.test)
    assert data.notes == (
        "no normal test images (good_test/): 2 of the 10 normal images are held out for testing (seed 3), 8 train",
        NO_DEFECTS_NOTE,
    )
    again, _ = read_folder(root, "pcb_connector", seed=3)
    assert again == data
    assert not data.has_defects


def test_a_normal_test_folder_is_used_as_is(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "part", n_normals=4)
    for index in range(3):
        write_image(root / "good_test" / f"t{index}.png", (6, 4))
    data, problems = read_folder(root, "part")
    assert problems == []
    assert _names(data.train) == ["n00.png", "n01.png", "n02.png", "n03.png"]
    assert _names(data.test) == ["t0.png", "t1.png", "t2.png"]
    assert data.notes == (NO_DEFECTS_NOTE,)


def _masked_tree(root: Path) -> Path:
    """10 normals; solder_bridge ×3 and missing_pin ×2; three masks in the three accepted places and names."""
    folder_tree(root, n_normals=10, defects={"solder_bridge": 3, "missing_pin": 2})
    write_image(root / "masks" / "solder_bridge" / "solder_bridge_0.png", (6, 4), 255, "L")
    write_image(root / "masks" / "solder_bridge_1_mask.png", (6, 4), 255, "L")
    write_image(root / "masks" / "missing_pin" / "missing_pin_0_mask.bmp", (6, 4), 255, "L")
    return root


def test_defect_folders_are_the_defect_types_and_masks_are_optional(tmp_path: Path) -> None:
    root = _masked_tree(tmp_path / "pcb_connector")
    data, problems = read_folder(root, "pcb_connector", seed=0)
    assert problems == []
    assert data.defect_types == ("missing_pin", "solder_bridge")
    masks = {sample.path.name: sample.mask_path for sample in data.defects}
    assert masks == {
        "missing_pin_0.png": root / "masks" / "missing_pin" / "missing_pin_0_mask.bmp",
        "missing_pin_1.png": None,
        "solder_bridge_0.png": root / "masks" / "solder_bridge" / "solder_bridge_0.png",
        "solder_bridge_1.png": root / "masks" / "solder_bridge_1_mask.png",
        "solder_bridge_2.png": None,
    }
    assert data.masked_defects == 3
    assert data.notes[1] == (
        "2 of 5 defect images have no mask: they count at image level only; pixel metrics use the 3 with masks"
    )


def test_required_masks_name_each_image_without_one_and_where_its_mask_was_expected(tmp_path: Path) -> None:
    root = _masked_tree(tmp_path / "pcb_connector")
    _, problems = read_folder(root, "pcb_connector", masks="required")
    assert [str(problem) for problem in problems] == [
        f"defect image {root / 'missing_pin' / 'missing_pin_1.png'} has no mask: expected "
        f"{root / 'masks' / 'missing_pin' / 'missing_pin_1'}.png or {root / 'masks' / 'missing_pin_1'}.png "
        "(any image suffix, '_mask' after the stem accepted)",
        f"defect image {root / 'solder_bridge' / 'solder_bridge_2.png'} has no mask: expected "
        f"{root / 'masks' / 'solder_bridge' / 'solder_bridge_2'}.png or {root / 'masks' / 'solder_bridge_2'}.png "
        "(any image suffix, '_mask' after the stem accepted)",
    ]


def test_a_mask_without_its_image_and_a_mask_shared_by_two_images_are_problems(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "part", n_normals=10, defects={"crack": 1, "hole": 1})
    (root / "hole" / "hole_0.png").rename(root / "hole" / "crack_0.png")
    write_image(root / "masks" / "crack_0.png", (6, 4), 255, "L")
    write_image(root / "masks" / "hole" / "ghost_mask.png", (6, 4), 255, "L")
    data, problems = read_folder(root, "part")
    assert [str(problem) for problem in problems] == [
        f"mask {root / 'masks' / 'crack_0.png'} matches several defect images (crack/crack_0.png, hole/crack_0.png): "
        f"expected it in {root / 'masks'}/<defect>/ beside the defect folder of its image",
        f"mask {root / 'masks' / 'hole' / 'ghost_mask.png'} has no defect image: expected an image ghost.* in "
        f"{root / 'hole'}",
    ]
    assert data.masked_defects == 0


def test_good_only_folder_tests_on_held_out_normals_and_says_there_are_no_defects(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "washer", n_normals=6)
    data, problems = read_folder(root, "washer", seed=0)
    assert problems == []
    assert (len(data.train), len(data.test), data.defect_types) == (5, 1, ())
    assert data.notes[-1] == NO_DEFECTS_NOTE


@pytest.mark.parametrize(
    ("n_normals", "normal_test", "message"),
    [
        (
            1,
            False,
            "1 found, at least 5 are needed (2 to fit the model on, 2 held out to calibrate its thresholds, "
            "and 1 held out for testing)",
        ),
        (4, False, "4 found, at least 5 are needed"),
        (3, True, "3 found, at least 4 are needed (2 to fit the model on, 2 held out to calibrate its thresholds)"),
    ],
)
def test_too_few_normal_images_say_how_many_are_needed(
    tmp_path: Path, n_normals: int, normal_test: bool, message: str
) -> None:
    root = folder_tree(tmp_path / "part", n_normals=n_normals)
    if normal_test:
        write_image(root / "good_test" / "t0.png", (6, 4))
    _, problems = read_folder(root, "part")
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"too few normal images in {root / 'good'}: {message}")


def test_empty_folder_and_missing_normal_folder_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    data, problems = read_folder(empty, "empty")
    assert [problem.path for problem in problems] == [empty]
    assert str(problems[0]).startswith(f"empty folder {empty}: no image files in it or its folders; expected good/")
    assert data.train == data.test == ()
    root = folder_tree(tmp_path / "part", n_normals=0, defects={"crack": 2})
    _, problems = read_folder(root, "part")
    assert [str(problem) for problem in problems] == [
        f"missing normal folder {root / 'good'}: expected at least 5 normal (defect-free) images in it"
    ]


def test_folder_names_are_configurable_like_anomalib_folder(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "part", n_normals=0)
    for index in range(5):
        write_image(root / "ok" / f"{index}.png", (6, 4))
    write_image(root / "ng" / "0.png", (6, 4))
    write_image(root / "other" / "0.png", (6, 4))
    write_image(root / "gt" / "0.png", (6, 4), 255, "L")
    spec = FolderSpec(normal_dir="ok", abnormal_dirs=("ng", "missing"), mask_dir="gt")
    data, problems = read_folder(root, "part", spec=spec)
    assert [str(problem) for problem in problems] == [
        f"missing defect folder {root / 'missing'}: it was given as a folder of defect images"
    ]
    assert [(sample.defect_type, sample.mask_path) for sample in data.defects] == [("ng", root / "gt" / "0.png")]


def test_unsafe_category_or_a_missing_root_raise(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"unsafe category name '\.\./x'"):
        read_folder(tmp_path, "../x")
    with pytest.raises(DatasetError, match=r"dataset folder .*nowhere is not a folder: expected good/"):
        read_folder(tmp_path / "nowhere", "part")
