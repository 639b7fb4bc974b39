"""The confirmation set on tiny generated photos: layout, disjoint train and test areas, masks, determinism, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.cli.commands import main
from services.data.confirmation import (
    DEFECT_TYPES,
    PHOTO_SETS,
    RECORD,
    ConfirmationConfig,
    SourcePhoto,
    build_confirmation_set,
    changed_mask,
    grid_areas,
)
from services.data.datasets import DatasetError, read_mask
from services.data.layouts import open_category

SOURCES = (
    SourcePhoto("stones", "pebbles", (0.0, 0.0, 1.0, 1.0), "random blotches"),
    SourcePhoto("bark", "bark_strip", (0.0, 0.25, 1.0, 1.0), "gradient with stripes"),
)
TINY = ConfirmationConfig(image_size=32, n_train=6, n_test_good=3, n_test_per_defect=2)


def _write_photos(folder: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """Two small 'photos': random blotches, and a colour gradient with stripes (written as JPEG in Plasma's layout)."""
    rng = np.random.default_rng(7)
    width, height = size
    blotches = np.kron(rng.integers(0, 256, (height // 4, width // 4, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    xs = np.linspace(0, 1, width)[None, :, None]
    stripes = 0.5 + 0.3 * np.sin(np.arange(height)[:, None, None] / 3.0)
    gradient = np.clip(255 * (0.2 + 0.6 * xs) * stripes * np.array([1.0, 0.8, 0.6]), 0, 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(blotches).save(folder / "stones.png")
    images = folder / "bark" / "contents" / "images"
    images.mkdir(parents=True)
    Image.fromarray(gradient).save(images / f"{width}x{height}.jpg", quality=95)
    Image.fromarray(gradient[: height // 2, : width // 2]).save(images / f"{width // 2}x{height // 2}.jpg")
    return folder


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("confirmation")
    build_confirmation_set(_write_photos(base / "photos"), base / "set", TINY, SOURCES)
    return base


def _record(root: Path) -> dict:
    return json.loads((root / RECORD).read_text())


@pytest.mark.parametrize("product", ["pebbles", "bark_strip"])
def test_each_product_is_readable_by_open_category_with_its_counts(built: Path, product: str) -> None:
    info, data = open_category(built / "set", product)
    assert info.name == "own"
    assert len(data.train) == TINY.n_train
    kinds = [sample.defect_type for sample in data.test]
    assert kinds.count("good") == TINY.n_test_good
    assert {kind: kinds.count(kind) for kind in DEFECT_TYPES} == dict.fromkeys(DEFECT_TYPES, TINY.n_test_per_defect)


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_train_and_test_crops_come_from_disjoint_areas(built: Path) -> None:
    record = _record(built / "set")
    for product in record["products"]:
        files = [entry for entry in record["files"] if entry["file"].startswith(product["product"] + "/")]
        train = [entry for entry in files if entry["split"] == "train"]
        test = [entry for entry in files if entry["split"] == "test"]
        assert {entry["area"] for entry in train} <= set(product["train_areas"])
        assert {entry["area"] for entry in test} <= set(product["test_areas"])
        assert not set(product["train_areas"]) & set(product["test_areas"])
        for entry in files:  # each box lies inside its own area
            area = product["areas"][entry["area"]]
            box = entry["box"]
            assert area[0] <= box[0] < box[2] <= area[2] and area[1] <= box[1] < box[3] <= area[3]
        assert not any(_overlap(a["box"], b["box"]) for a in train for b in test)


def test_areas_are_disjoint_and_inside_the_region() -> None:
    areas = grid_areas((10, 20, 610, 220), 12)
    assert len(areas) == 12
    assert all(10 <= x0 < x1 <= 610 and 20 <= y0 < y1 <= 220 for x0, y0, x1, y1 in areas)
    assert not any(_overlap(list(a), list(b)) for i, a in enumerate(areas) for b in areas[i + 1 :])


def test_masks_are_non_empty_and_only_for_defect_images(built: Path) -> None:
    root = built / "set"
    for product in ("pebbles", "bark_strip"):
        _, data = open_category(root, product)
        for sample in (*data.train, *data.test):
            if sample.defect_type == "good":
                assert sample.mask_path is None
            else:
                mask = read_mask(sample.mask_path)
                assert mask.shape == (TINY.image_size, TINY.image_size) and 0 < mask.sum() < mask.size
        truth = {path.parent.name for path in (root / product / "ground_truth").rglob("*_mask.png")}
        assert truth == set(DEFECT_TYPES)


def test_mask_is_exactly_where_a_channel_changed_noticeably() -> None:
    clean = np.random.default_rng(3).integers(0, 200, (24, 24, 3)).astype(np.uint8)
    painted = clean.copy()
    painted[5:10, 8:14, 1] += 40  # a defect
    painted[20, 20] += 5  # below the change level: not a defect
    expected = np.zeros((24, 24), bool)
    expected[5:10, 8:14] = True
    np.testing.assert_array_equal(changed_mask(clean, painted), expected)


def test_record_names_the_photos_package_and_conditions(built: Path) -> None:
    record = _record(built / "set")
    assert record["package"]["name"] == "plasma-workspace-wallpapers"
    products = {product["product"]: product for product in record["products"]}
    assert products["bark_strip"]["photo"] == "320x240.jpg"  # the largest resolution of the wallpaper
    assert products["pebbles"]["photo"] == "stones.png"
    assert len(products["pebbles"]["photo_sha256"]) == 64
    gains = {entry["acquisition"]["gain"] for entry in record["files"]}
    assert len(gains) == len(record["files"])  # every image has its own conditions


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(built: Path, tmp_path: Path) -> None:
    photos = built / "photos"
    build_confirmation_set(photos, tmp_path / "again", TINY, SOURCES)
    assert _files(tmp_path / "again") == _files(built / "set")
    other = ConfirmationConfig(seed=1, image_size=32, n_train=6, n_test_good=3, n_test_per_defect=2)
    build_confirmation_set(photos, tmp_path / "other", other, SOURCES)
    assert (
        _files(tmp_path / "other")["pebbles/train/good/000.png"] != _files(built / "set")["pebbles/train/good/000.png"]
    )


def test_rewriting_a_confirmation_set_replaces_it(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "set"
    build_confirmation_set(built / "photos", out, TINY, SOURCES)
    smaller = ConfirmationConfig(image_size=32, n_train=4, n_test_good=2, n_test_per_defect=1)
    build_confirmation_set(built / "photos", out, smaller, SOURCES)
    assert len(list((out / "pebbles" / "train" / "good").iterdir())) == 4


def test_missing_photos_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"photos folder .*nowhere does not exist"):
        build_confirmation_set(tmp_path / "nowhere", tmp_path / "out", TINY, SOURCES)


def test_folder_without_the_photos_names_what_it_expected(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError, match=r"no photo of 'stones' .*stones/contents/images/<W>x<H>"):
        build_confirmation_set(tmp_path / "photos", tmp_path / "out", TINY, SOURCES)


def test_too_small_photo_is_a_clear_error(tmp_path: Path) -> None:
    photos = _write_photos(tmp_path / "photos", size=(96, 64))
    with pytest.raises(DatasetError, match=r"stones.png is 96x64 px: too small .* at least 48 px"):
        build_confirmation_set(photos, tmp_path / "out", TINY, SOURCES)
    assert not (tmp_path / "out").exists()


def test_a_folder_holding_other_data_is_refused(built: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=f"not empty and holds no {RECORD}"):
        build_confirmation_set(built / "photos", tmp_path / "out", TINY, SOURCES)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_size": 8}, "image size must be at least 32 px, got 8"),
        ({"n_train": 0}, "n_train must be at least 1, got 0"),
        ({"test_areas": tuple(range(12))}, r"must be some, not all, of areas 0..11"),
    ],
)
def test_bad_configuration_names_the_value(changes: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        ConfirmationConfig(**changes)


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["confirmation", "--photos", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert main(["confirmation", "--photos", str(tmp_path), "--size", "4"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: photos folder") and "nowhere" in err[0]
    assert err[1] == "error: confirmation image size must be at least 32 px, got 4"


def test_photo_sets_share_no_photograph_and_no_product_name() -> None:
    confirmation, development = PHOTO_SETS["confirmation"], PHOTO_SETS["development"]
    assert not {p.wallpaper for p in confirmation} & {p.wallpaper for p in development}
    assert not {p.product for p in confirmation} & {p.product for p in development}


def test_record_names_its_set(built: Path, tmp_path: Path) -> None:
    build_confirmation_set(built / "photos", tmp_path / "dev", TINY, SOURCES, "development")
    assert _record(tmp_path / "dev")["name"] == "development"
    assert _record(built / "set")["name"] == "confirmation"


def test_cli_development_set_asks_for_its_own_photographs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "photos").mkdir()
    out = tmp_path / "out"
    assert main(["confirmation", "--set", "development", "--photos", str(tmp_path / "photos"), "--out", str(out)]) == 2
    assert "no photo of 'ColdRipple'" in capsys.readouterr().err
    assert not out.exists()
