"""Categories are data: any safe name is a category, and all 15 MVTec-AD categories open in MVTec layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.data.categories import CATEGORY_RULE, MVTEC_AD_CATEGORIES, check_category_name
from services.data.datasets import DatasetError, validate_mvtec_root
from services.data.layouts import open_category
from tests.services.data.dataset_trees import real_mvtec_tree, write_image

MVTEC_AD_NAMES = (
    "bottle",
    "cable",
    "capsule",
    "carpet",
    "grid",
    "hazelnut",
    "leather",
    "metal_nut",
    "pill",
    "screw",
    "tile",
    "toothbrush",
    "transistor",
    "wood",
    "zipper",
)


@pytest.mark.parametrize("name", ["tile", "pcb_connector", "PCB-7", "a", "0ring", "x" * 64])
def test_safe_names_are_categories(name: str) -> None:
    assert check_category_name(name) == name


UNSAFE = ("", "..", "../tile", "a/b", "a\\b", ".hidden", "-dash", "_under", "has space", "a.b", "tile\n", "ümlaut")


@pytest.mark.parametrize("name", [*UNSAFE, "x" * 65])
def test_unsafe_names_are_refused_naming_the_value_and_the_rule(name: str) -> None:
    with pytest.raises(DatasetError) as caught:
        check_category_name(name)
    assert str(caught.value) == f"unsafe category name {name!r}: {CATEGORY_RULE}"
    assert "1 to 64 letters, digits, '-' or '_', starting with a letter or digit" in CATEGORY_RULE


def test_mvtec_ad_taxonomy_has_15_categories_and_73_defect_types() -> None:
    assert tuple(MVTEC_AD_CATEGORIES) == MVTEC_AD_NAMES
    assert sum(len(defects) for defects in MVTEC_AD_CATEGORIES.values()) == 73
    assert MVTEC_AD_CATEGORIES["toothbrush"] == ("defective",)


@pytest.mark.parametrize("category", MVTEC_AD_NAMES)
def test_every_mvtec_ad_category_opens_in_mvtec_layout(tmp_path: Path, category: str) -> None:
    """A 2×2 px tree per category with each of its real defect folders, masks included."""
    root = real_mvtec_tree(tmp_path / "mvtec_ad", category)
    info, data = open_category(root, category, layout="mvtec")
    assert (info.name, info.categories, info.version) == ("mvtec_ad", (category,), "2019")
    assert data.defect_types == tuple(sorted(MVTEC_AD_CATEGORIES[category]))
    assert (len(data.train), len(data.test), data.masked_defects) == (4, 1 + len(data.defect_types), len(data.defects))
    assert validate_mvtec_root(root).categories == (category,)


def test_a_root_claiming_mvtec_ad_refuses_a_foreign_defect_folder_naming_the_accepted_ones(tmp_path: Path) -> None:
    root = real_mvtec_tree(tmp_path / "mvtec_ad", "bottle")
    write_image(root / "bottle" / "test" / "scratch" / "000.png", 2)
    accepted = "good, broken_large, broken_small, contamination"
    with pytest.raises(DatasetError, match=rf"unknown defect folder .*scratch; accepted for bottle: {accepted}"):
        open_category(root, "bottle", layout="mvtec")
