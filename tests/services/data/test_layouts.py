"""open_category and scan_category: either layout read, every file decoded and checked, the data named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.data.datasets import DatasetError, files_fingerprint, open_dataset
from services.data.layouts import detect_layout, open_category, scan_category
from tests.image_variants import HEIGHT, WIDTH, picture, write_variant
from tests.services.data.dataset_trees import folder_tree, mvtec_tree, write_image


def test_own_folder_is_named_own_with_a_fingerprint_of_its_files(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "pcb_connector", n_normals=10, defects={"solder_bridge": 2})
    info, data = open_category(root, "pcb_connector", layout="folder", seed=0)
    assert (info.name, info.root, info.categories, info.version) == ("own", root.resolve(), ("pcb_connector",), "1")
    assert info.fingerprint == files_fingerprint(root.resolve(), data.files)
    assert len(data.files) == 12
    moved = Path(shutil.copytree(root, tmp_path / "elsewhere" / "pcb_connector"))
    assert open_category(moved, "pcb_connector", layout="folder")[0].fingerprint == info.fingerprint
    write_image(moved / "good" / "n00.png", (6, 4), value=129)
    assert open_category(moved, "pcb_connector", layout="folder")[0].fingerprint != info.fingerprint


def test_folder_category_defaults_to_the_folder_name_which_must_be_safe(tmp_path: Path) -> None:
    assert scan_category(folder_tree(tmp_path / "washer", 5), layout="folder").category == "washer"
    scan = scan_category(folder_tree(tmp_path / "my photos", 5), layout="folder")
    assert [str(problem) for problem in scan.problems] == [
        "unsafe category name 'my photos': a category name is 1 to 64 letters, digits, '-' or '_', starting with a "
        "letter or digit (no spaces, dots, path separators or '..'), e.g. pcb_connector"
    ]


def test_mixed_sizes_and_formats_with_any_suffix_case_are_read_upright(tmp_path: Path) -> None:
    root = tmp_path / "bracket"
    write_image(root / "good" / "a.JPG", (64, 48))
    write_image(root / "good" / "b.bmp", (30, 40))
    write_image(root / "good" / "c.TIFF", (50, 20))
    write_image(root / "good" / "d.png", (64, 48))
    write_variant(picture(0), "exif", root / "good", "e")  # stored 48×64, upright 64×48
    write_image(root / "dent" / "0.jpeg", (1600 // 40, 1200 // 40))
    scan = scan_category(root, layout="folder")
    assert scan.problems == ()
    assert set(scan.sizes.values()) == {(64, 48), (30, 40), (50, 20), (WIDTH, HEIGHT), (40, 30)}
    assert scan.data.defect_types == ("dent",)


def test_every_unreadable_image_and_wrong_mask_size_is_listed_by_file(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "part", n_normals=5, defects={"crack": 1})
    for path in sorted((root / "good").iterdir()):
        path.write_bytes(b"not an image at all")
    write_image(root / "masks" / "crack_0.png", (8, 8), 255, "L")
    scan = scan_category(root, layout="folder")
    unreadable = {problem.path.name: str(problem) for problem in scan.problems if str(problem).startswith("unreadable")}
    assert sorted(unreadable) == [f"n{index:02d}.png" for index in range(5)]
    assert unreadable["n00.png"] == (
        f"unreadable or corrupt image file {root.resolve() / 'good' / 'n00.png'}: is not an image (no PNG, JPEG, "
        "BMP or TIFF signature); accepted: PNG, JPEG, BMP, TIFF up to 50,000,000 pixels"
    )
    assert [str(problem) for problem in scan.problems if str(problem).startswith("mask")] == [
        f"mask {root.resolve() / 'masks' / 'crack_0.png'} is 8x8 px: expected 6x4 px like its image "
        f"{root.resolve() / 'crack' / 'crack_0.png'} (as decoded, upright)"
    ]
    with pytest.raises(DatasetError, match=r"^6 problems:\n- unreadable or corrupt image file "):
        open_category(root, layout="folder")


def test_mvtec_layout_category_folder_root_or_single_category_root(tmp_path: Path) -> None:
    root = mvtec_tree(tmp_path / "mine", "gasket", ("tear",))
    for target, category in ((root, None), (root / "gasket", None), (root / "gasket", "gasket")):
        scan = scan_category(target, category, layout="mvtec")
        assert (scan.root, scan.category, scan.problems) == (root.resolve(), "gasket", ())
    info, data = open_category(root, "gasket")
    assert (info.name, data.layout, data.defect_types, data.masked_defects) == ("own", "mvtec", ("tear",), 1)
    mvtec_tree(root, "seal", ())
    scan = scan_category(root, layout="mvtec")
    assert [str(problem) for problem in scan.problems] == [
        f"{root.resolve()} holds 2 categories (gasket, seal): name the one to read"
    ]


def test_mvtec_layout_needs_four_training_normals(tmp_path: Path) -> None:
    root = mvtec_tree(tmp_path / "mine", "gasket", ("tear",), n_train=3)
    with pytest.raises(DatasetError) as caught:
        open_category(root, "gasket", layout="mvtec")
    assert str(caught.value) == (
        f"too few normal images in {root.resolve() / 'gasket' / 'train' / 'good'}: 3 found, at least 4 are needed "
        "(2 to fit the model on, 2 held out to calibrate its thresholds)"
    )


def test_mvtec_layout_masks_can_be_relaxed(tmp_path: Path) -> None:
    root = mvtec_tree(tmp_path / "mine", "gasket", ("tear", "dent"))
    (root / "gasket" / "ground_truth" / "dent" / "000_mask.png").unlink()
    with pytest.raises(DatasetError, match=r"test image .*dent/000.png has no mask: expected .*dent/000_mask.png"):
        open_category(root, "gasket")
    _, data = open_category(root, "gasket", masks="optional")
    assert (data.masked_defects, len(data.defects)) == (1, 2)
    assert data.notes == (
        "1 of 2 defect images have no mask: they count at image level only; pixel metrics use the 1 with masks",
    )


def test_synthetic_root_opens_as_synthetic(tiny_synthetic_root: Path) -> None:
    info, data = open_category(tiny_synthetic_root, "tile")
    assert info == open_dataset(tiny_synthetic_root, ("tile",))
    assert (len(data.train), data.masked_defects, data.notes) == (8, 10, ())


def test_layout_is_detected(tmp_path: Path) -> None:
    mvtec = mvtec_tree(tmp_path / "mvtec", "gasket", ())
    folder = folder_tree(tmp_path / "folder", 1)
    assert (detect_layout(mvtec), detect_layout(mvtec / "gasket"), detect_layout(folder)) == (
        "mvtec",
        "mvtec",
        "folder",
    )
