"""MVTec-AD layout: listing, validation errors, fingerprints and naming of datasets."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from services.data.datasets import (
    DATASET_RECORD,
    MVTEC_AD_VERSION,
    MVTEC_DEFECTS,
    DatasetError,
    Sample,
    category_fingerprint,
    list_samples,
    open_dataset,
    validate_mvtec_root,
)
from tests.image_variants import HEIGHT, WIDTH, picture, write_variant
from tests.services.data.dataset_trees import write_image as _png


def _mvtec(root: Path, category: str = "tile") -> Path:
    """A tiny valid MVTec-AD tree: two train images, one normal and two defect test images with masks."""
    base = root / category
    for name in ("000", "001"):
        _png(base / "train" / "good" / f"{name}.png")
    _png(base / "test" / "good" / "000.png")
    first, second = MVTEC_DEFECTS[category][:2]
    for defect_type in (first, second):
        _png(base / "test" / defect_type / "000.png", value=90)
        _png(base / "ground_truth" / defect_type / "000_mask.png", value=255, mode="L")
    return root


@pytest.fixture
def mvtec_root(tmp_path: Path) -> Path:
    return _mvtec(tmp_path / "mvtec")


@pytest.mark.parametrize(
    ("category", "mvtec_folders", "foreign"),
    [
        ("tile", ("crack", "glue_strip", "gray_stroke", "oil", "rough"), "poke"),
        ("leather", ("color", "cut", "fold", "glue", "poke"), "thread"),
        ("grid", ("bent", "broken", "glue", "metal_contamination", "thread"), "glue_strip"),
    ],
)
def test_taxonomy_accepts_the_mvtec_ad_defect_folders_of_the_category_only(
    tmp_path: Path, category: str, mvtec_folders: tuple[str, ...], foreign: str
) -> None:
    """The test folders of a real MVTec-AD category validate; a defect of another category is refused by name."""
    root = _mvtec(tmp_path / "mvtec", category)
    for defect_type in mvtec_folders:
        _png(root / category / "test" / defect_type / "000.png", value=90)
        _png(root / category / "ground_truth" / defect_type / "000_mask.png", value=255, mode="L")
    assert validate_mvtec_root(root, (category,)).categories == (category,)
    assert [sample.defect_type for sample in list_samples(root, category, "test")] == sorted((*mvtec_folders, "good"))
    _png(root / category / "test" / foreign / "000.png")
    with pytest.raises(DatasetError, match=rf"unknown defect folder .*{foreign}; accepted for {category}: good, "):
        validate_mvtec_root(root, (category,))


def test_list_samples_is_sorted_with_mvtec_mask_names(mvtec_root: Path) -> None:
    train = list_samples(mvtec_root, "tile", "train")
    assert [sample.path.name for sample in train] == ["000.png", "001.png"]
    assert all(sample.split == "train" and not sample.is_anomalous and sample.mask_path is None for sample in train)
    test = list_samples(mvtec_root, "tile", "test")
    assert [sample.defect_type for sample in test] == ["crack", "glue_strip", "good"]
    crack = test[0]
    assert crack == Sample(
        mvtec_root / "tile" / "test" / "crack" / "000.png",
        "test",
        "crack",
        mvtec_root / "tile" / "ground_truth" / "crack" / "000_mask.png",
    )
    assert crack.is_anomalous
    assert not test[2].is_anomalous


def test_list_samples_rejects_an_unknown_split(mvtec_root: Path) -> None:
    with pytest.raises(DatasetError, match="accepted: train, test"):
        list_samples(mvtec_root, "tile", "val")  # type: ignore[arg-type]


def test_valid_root_is_named_mvtec_ad(mvtec_root: Path) -> None:
    info = validate_mvtec_root(mvtec_root, ("tile",))
    assert info.name == "mvtec_ad"
    assert info.root == mvtec_root.resolve()
    assert info.categories == ("tile",)
    assert info.version == MVTEC_AD_VERSION
    # The tree's seven files in path order, each hashed as "<relative path>\0<bytes>"; then "<category>:<hex16>\n".
    files = ("ground_truth/crack/000_mask.png", "ground_truth/glue_strip/000_mask.png", "test/crack/000.png")
    files += ("test/glue_strip/000.png", "test/good/000.png", "train/good/000.png", "train/good/001.png")
    tile = hashlib.sha256(b"".join(name.encode() + b"\0" + (mvtec_root / "tile" / name).read_bytes() for name in files))
    assert info.fingerprint == hashlib.sha256(f"tile:{tile.hexdigest()[:16]}\n".encode()).hexdigest()[:16]
    assert open_dataset(mvtec_root, ("tile",)) == info


def _broken(root: Path, kind: str) -> Path:
    """Break a valid tree in one way."""
    base = root / "tile"
    if kind == "missing category":
        shutil.rmtree(base)
    elif kind == "empty train/good":
        for path in (base / "train" / "good").iterdir():
            path.unlink()
    elif kind == "test image without mask":
        (base / "ground_truth" / "crack" / "000_mask.png").unlink()
    elif kind == "mask without image":
        _png(base / "ground_truth" / "crack" / "007_mask.png", value=255, mode="L")
    elif kind == "corrupt image":
        (base / "train" / "good" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    elif kind == "truncated image":
        path = base / "test" / "good" / "000.png"
        path.write_bytes(path.read_bytes()[:40])
    elif kind == "wrong mask size":
        _png(base / "ground_truth" / "crack" / "000_mask.png", size=16, value=255, mode="L")
    elif kind == "unknown defect folder":
        _png(base / "test" / "scratch" / "000.png")
    return root


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing category", r"missing category folder .*tile: expected tile/train/good"),
        ("empty train/good", r"empty train/good folder .*good: expected at least one normal training image"),
        ("test image without mask", r"test image .*crack/000.png has no mask: expected .*crack/000_mask.png"),
        ("mask without image", r"mask .*007_mask.png has no test image: expected .*crack/007.png"),
        ("corrupt image", r"unreadable or corrupt image file .*001.png"),
        ("truncated image", r"unreadable or corrupt image file .*good/000.png"),
        ("wrong mask size", r"mask .*000_mask.png is 16x16 px: expected 8x8 px"),
        ("unknown defect folder", r"unknown defect folder .*scratch; accepted for tile: good, crack"),
    ],
)
def test_validation_names_what_is_wrong(mvtec_root: Path, kind: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        validate_mvtec_root(_broken(mvtec_root, kind), ("tile",))


def test_validation_rejects_missing_or_unsafe_category_and_missing_root(mvtec_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing category folder .*bottle: expected bottle/train/good"):
        validate_mvtec_root(mvtec_root, ("bottle",))
    with pytest.raises(DatasetError, match=r"unsafe category name '\.\./tile': a category name is 1 to 64 letters"):
        validate_mvtec_root(mvtec_root, ("../tile",))
    with pytest.raises(DatasetError, match="is not a folder"):
        validate_mvtec_root(tmp_path / "nowhere", ("tile",))


def test_validation_lists_every_problem_not_only_the_first(mvtec_root: Path) -> None:
    _broken(_broken(mvtec_root, "test image without mask"), "corrupt image")
    with pytest.raises(DatasetError) as caught:
        validate_mvtec_root(mvtec_root, ("tile",))
    assert [problem.path.name for problem in caught.value.problems] == ["000.png", "001.png"]
    assert str(caught.value).startswith("2 problems:\n- test image ")
    assert "unreadable or corrupt image file " in str(caught.value)


def test_masks_can_be_optional_in_mvtec_layout(mvtec_root: Path) -> None:
    """Relaxed, a defect image without its mask stays, at image level (``mask_path=None``); required, it is an error."""
    _broken(mvtec_root, "test image without mask")
    crack = list_samples(mvtec_root, "tile", "test", masks="optional")[0]
    assert (crack.defect_type, crack.mask_path) == ("crack", None)
    with pytest.raises(DatasetError, match="has no mask"):
        list_samples(mvtec_root, "tile", "test")


def test_own_category_in_mvtec_layout_takes_any_defect_folder_and_is_named_own(tmp_path: Path) -> None:
    root = tmp_path / "own"
    base = root / "pcb_connector"
    for name in ("000", "001"):
        _png(base / "train" / "good" / f"{name}.png")
    for defect_type in ("solder_bridge", "missing_pin"):
        _png(base / "test" / defect_type / "000.png", value=90)
        _png(base / "ground_truth" / defect_type / "000_mask.png", value=255, mode="L")
    info = validate_mvtec_root(root)
    assert (info.name, info.categories, info.version) == ("own", ("pcb_connector",), "1")
    assert [sample.defect_type for sample in list_samples(root, "pcb_connector", "test")] == [
        "missing_pin",
        "solder_bridge",
    ]


def test_masks_are_checked_against_the_upright_image(mvtec_root: Path) -> None:
    """An EXIF-rotated JPEG is decoded upright (64×48 here, stored 48×64), so its mask must be upright too."""
    crack = mvtec_root / "tile" / "test" / "crack"
    (crack / "000.png").unlink()
    write_variant(picture(0), "exif", crack, "000")
    mask_path = mvtec_root / "tile" / "ground_truth" / "crack" / "000_mask.png"
    Image.new("L", (WIDTH, HEIGHT), 255).save(mask_path)
    assert validate_mvtec_root(mvtec_root, ("tile",)).name == "mvtec_ad"
    Image.new("L", (HEIGHT, WIDTH), 255).save(mask_path)
    with pytest.raises(DatasetError, match=rf"000_mask.png is {HEIGHT}x{WIDTH} px: expected {WIDTH}x{HEIGHT} px"):
        validate_mvtec_root(mvtec_root, ("tile",))


def test_synthetic_root_is_never_named_mvtec_ad(tiny_synthetic_root: Path) -> None:
    with pytest.raises(DatasetError, match="generated data, not MVTec-AD"):
        validate_mvtec_root(tiny_synthetic_root)
    assert open_dataset(tiny_synthetic_root).name == "synthetic"


def test_open_dataset_checks_synthetic_files_against_dataset_json(tiny_synthetic_root: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(tiny_synthetic_root, tmp_path / "copy"))
    assert open_dataset(root, ("grid",)).fingerprint == open_dataset(tiny_synthetic_root, ("grid",)).fingerprint
    shutil.copyfile(root / "grid" / "train" / "good" / "001.png", root / "grid" / "train" / "good" / "000.png")
    with pytest.raises(DatasetError, match=r"files under .*grid changed since generation"):
        open_dataset(root, ("grid",))
    assert open_dataset(root, ("tile",)).name == "synthetic"


def test_open_dataset_rejects_categories_not_generated(tiny_synthetic_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(tiny_synthetic_root, root)
    record = json.loads((root / DATASET_RECORD).read_text())
    del record["category_fingerprints"]["leather"]
    (root / DATASET_RECORD).write_text(json.dumps(record))
    with pytest.raises(DatasetError, match="has no synthetic leather"):
        open_dataset(root, ("leather",))
    record["name"] = "mvtec_ad"
    (root / DATASET_RECORD).write_text(json.dumps(record))
    with pytest.raises(DatasetError, match="expected 'synthetic'"):
        open_dataset(root, ("tile",))
    (root / DATASET_RECORD).write_text("{not json")
    with pytest.raises(DatasetError, match="unreadable"):
        open_dataset(root, ("tile",))


def test_fingerprint_follows_content_not_location(mvtec_root: Path, tmp_path: Path) -> None:
    original = category_fingerprint(mvtec_root, "tile")
    moved = Path(shutil.copytree(mvtec_root, tmp_path / "elsewhere"))
    assert category_fingerprint(moved, "tile") == original
    (moved / "tile" / "train" / "good" / "001.png").rename(moved / "tile" / "train" / "good" / "002.png")
    assert category_fingerprint(moved, "tile") != original
    _png(mvtec_root / "tile" / "train" / "good" / "000.png", value=129)
    assert category_fingerprint(mvtec_root, "tile") != original


def test_categories_default_to_those_the_root_holds(tmp_path: Path, tiny_synthetic_root: Path) -> None:
    root = _mvtec(_mvtec(tmp_path / "mvtec", "grid"), "leather")
    (root / ".cache" / "train").mkdir(parents=True)
    assert validate_mvtec_root(root).categories == ("grid", "leather")
    assert open_dataset(tiny_synthetic_root).categories == ("tile", "leather", "grid")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"holds no category folder: expected <category>/train/good"):
        validate_mvtec_root(tmp_path / "empty")


def test_dataset_fingerprint_depends_on_categories(tmp_path: Path) -> None:
    root = _mvtec(_mvtec(tmp_path / "mvtec", "tile"), "grid")
    both = validate_mvtec_root(root, ("tile", "grid"))
    assert both.fingerprint == validate_mvtec_root(root, ("grid", "tile")).fingerprint
    assert both.fingerprint != validate_mvtec_root(root, ("tile",)).fingerprint
