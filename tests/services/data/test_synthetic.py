"""The synthetic generator: MVTec layout, masks, determinism, dataset.json, the CLI and defect difficulty."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from services.cli.commands import main
from services.data.datasets import DATASET_RECORD, MVTEC_DEFECTS, DatasetError, list_samples, open_dataset
from services.data.synthetic import (
    SYNTH_VERSION,
    SYNTHETIC_CATEGORIES,
    SynthConfig,
    generate_dataset,
    render_sample,
    write_contact_sheet,
)

TINY = SynthConfig.tiny()


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.mark.parametrize("category", SYNTHETIC_CATEGORIES)
def test_layout_has_every_folder_and_file(tiny_synthetic_root: Path, category: str) -> None:
    base = tiny_synthetic_root / category
    assert sorted(path.name for path in (base / "train" / "good").iterdir()) == [
        f"{index:03d}.png" for index in range(TINY.n_train)
    ]
    assert len(list((base / "test" / "good").glob("*.png"))) == TINY.n_test_good
    assert sorted(path.name for path in (base / "test").iterdir()) == sorted(("good", *MVTEC_DEFECTS[category]))
    assert sorted(path.name for path in (base / "ground_truth").iterdir()) == sorted(MVTEC_DEFECTS[category])
    for defect_type in MVTEC_DEFECTS[category]:
        assert sorted(path.name for path in (base / "ground_truth" / defect_type).iterdir()) == [
            f"{index:03d}_mask.png" for index in range(TINY.n_test_per_defect)
        ]


@pytest.mark.parametrize("category", SYNTHETIC_CATEGORIES)
def test_images_are_rgb_and_masks_binary_non_empty_and_same_size(tiny_synthetic_root: Path, category: str) -> None:
    samples = list_samples(tiny_synthetic_root, category, "train") + list_samples(tiny_synthetic_root, category, "test")
    assert {sample.defect_type for sample in samples} == {"good", *MVTEC_DEFECTS[category]}
    for sample in samples:
        image = _pixels(sample.path)
        assert image.shape == (TINY.image_size, TINY.image_size, 3)
        if sample.mask_path is None:
            continue
        mask = _pixels(sample.mask_path)
        assert mask.shape == image.shape[:2]
        assert set(np.unique(mask)) <= {0, 255}
        assert np.count_nonzero(mask) > 0, f"empty mask {sample.mask_path}"
        assert np.count_nonzero(mask) < mask.size / 2, f"mask covers most of {sample.mask_path}"


def test_normal_images_vary(tiny_synthetic_root: Path) -> None:
    for category in SYNTHETIC_CATEGORIES:
        train = list_samples(tiny_synthetic_root, category, "train")
        first, second = (_pixels(sample.path).astype(int) for sample in train[:2])
        assert np.abs(first - second).mean() > 3, category


def test_dataset_json_names_synthetic_and_matches_open_dataset(tiny_synthetic_root: Path) -> None:
    record = json.loads((tiny_synthetic_root / DATASET_RECORD).read_text())
    info = open_dataset(tiny_synthetic_root)
    assert record["name"] == info.name == "synthetic"
    assert record["version"] == info.version == SYNTH_VERSION
    assert record["seed"] == TINY.seed
    assert record["config"]["image_size"] == TINY.image_size
    assert record["categories"] == list(SYNTHETIC_CATEGORIES) == list(info.categories)
    assert record["fingerprint"] == info.fingerprint


def test_same_seed_writes_byte_identical_files(tmp_path: Path, tiny_synthetic_root: Path) -> None:
    again = generate_dataset(tmp_path / "again", config=SynthConfig.tiny())
    assert _files(again.root) == _files(tiny_synthetic_root)


def test_different_seed_writes_different_images(tmp_path: Path, tiny_synthetic_root: Path) -> None:
    other = generate_dataset(tmp_path / "other", categories=("grid",), config=SynthConfig.tiny(seed=1))
    first = tiny_synthetic_root / "grid" / "train" / "good" / "000.png"
    assert (other.root / "grid" / "train" / "good" / "000.png").read_bytes() != first.read_bytes()
    assert other.fingerprint != open_dataset(tiny_synthetic_root, ("grid",)).fingerprint


def test_subset_of_categories_writes_the_same_images(tmp_path: Path, tiny_synthetic_root: Path) -> None:
    info = generate_dataset(tmp_path / "leather_only", categories=("leather",), config=SynthConfig.tiny())
    assert info.categories == ("leather",)
    assert _files(info.root / "leather") == _files(tiny_synthetic_root / "leather")


def test_regenerating_replaces_old_synthetic_files(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset(root, categories=("tile", "grid"), config=SynthConfig.tiny())
    info = generate_dataset(root, categories=("tile",), config=SynthConfig.tiny().with_size(48))
    assert not (root / "grid").exists()
    assert len(list((root / "tile" / "train" / "good").iterdir())) == SynthConfig.tiny().n_train
    assert _pixels(root / "tile" / "train" / "good" / "000.png").shape == (48, 48, 3)
    assert info.categories == ("tile",)


def test_refuses_to_write_into_a_folder_with_other_data(tmp_path: Path) -> None:
    (tmp_path / "tile").mkdir()
    (tmp_path / "notes.txt").write_text("not a dataset")
    with pytest.raises(DatasetError, match="not empty"):
        generate_dataset(tmp_path, config=SynthConfig.tiny())
    assert (tmp_path / "notes.txt").exists()


def test_rejects_unknown_category(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="accepted: tile, leather, grid"):
        generate_dataset(tmp_path / "out", categories=("bottle",), config=SynthConfig.tiny())


def test_config_validation_and_with_size() -> None:
    assert SynthConfig().with_size(128).image_size == 128
    assert SynthConfig(seed=3).with_size(128).seed == 3
    with pytest.raises(DatasetError, match="at least 32"):
        SynthConfig().with_size(16)
    with pytest.raises(DatasetError, match="n_train"):
        SynthConfig(n_train=0)
    with pytest.raises(DatasetError, match="non-negative"):
        SynthConfig(seed=-1)


def test_render_sample_rejects_a_defect_of_another_category() -> None:
    with pytest.raises(DatasetError, match="accepted in test: crack"):
        render_sample("tile", "test", "poke", 0, TINY)
    with pytest.raises(DatasetError, match="cannot render defect"):
        render_sample("tile", "train", "crack", 0, TINY)


def _inside_minus_ring(category: str, defect_type: str, config: SynthConfig) -> list[float]:
    """Mean gray level inside each mask minus the mean of a 6 px ring of background around it."""
    ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    differences = []
    for index in range(6):
        sample = render_sample(category, "test", defect_type, index, config)
        gray = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY).astype(float)
        inside = sample.mask > 0
        ring = (cv2.dilate(inside.astype(np.uint8), ring_kernel) > 0) & ~inside
        differences.append(gray[inside].mean() - gray[ring].mean())
    return differences


@pytest.mark.parametrize(
    ("category", "defect_type"), [("tile", "glue_strip"), ("tile", "rough"), ("leather", "color"), ("leather", "fold")]
)
def test_texture_defects_are_not_found_by_brightness(category: str, defect_type: str) -> None:
    """These types change texture, hue or shading, not the mean: inside the mask the mean gray level stays within
    10 of 255 levels of the ring around it (sensor noise and lighting alone move it a few levels), so a brightness
    threshold cannot segment them. The same measure does separate a brightness defect (oil), see below."""
    differences = _inside_minus_ring(category, defect_type, SynthConfig(image_size=128))
    assert max(abs(value) for value in differences) < 10, differences


def test_brightness_measure_detects_a_dark_stain() -> None:
    differences = _inside_minus_ring("tile", "oil", SynthConfig(image_size=128))
    assert np.median(differences) < -10, differences


def test_defect_types_differ_in_shape() -> None:
    """Threads are long and thin, metal particles compact and small: the types keep their shapes across images."""
    config = SynthConfig(image_size=128)
    for index in range(4):
        thread = render_sample("grid", "test", "thread", index, config).mask > 0
        particle = render_sample("grid", "test", "metal_contamination", index, config).mask > 0
        thread_extent = np.ptp(np.argwhere(thread), axis=0).max()
        particle_extent = np.ptp(np.argwhere(particle), axis=0).max()
        assert thread_extent > 2 * particle_extent
        assert particle.sum() < 0.02 * particle.size


def test_contact_sheet_has_one_row_per_category(tiny_synthetic_root: Path, tmp_path: Path) -> None:
    out = write_contact_sheet(tiny_synthetic_root, tmp_path / "sheet.png", cell=64)
    sheet = _pixels(out)
    assert sheet.shape == (3 * (18 + 64), 6 * 64, 3)
    assert out.stat().st_size < 1_000_000
    red_outline = (sheet[..., 0] > 200) & (sheet[..., 1] < 90) & (sheet[..., 2] < 90)
    assert red_outline.sum() > 15 * 10


def test_cli_synth_writes_a_synthetic_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, sheet = tmp_path / "synth", tmp_path / "sheet.png"
    assert main(["synth", "--out", str(out), "--size", "64", "--contact-sheet", str(sheet)]) == 0
    printed = capsys.readouterr().out
    info = open_dataset(out)
    assert info.name == "synthetic"
    assert f"fingerprint {info.fingerprint}" in printed
    assert _pixels(out / "grid" / "train" / "good" / "000.png").shape == (64, 64, 3)
    assert len(list((out / "tile" / "train" / "good").iterdir())) == SynthConfig().n_train
    assert _pixels(sheet).shape == (3 * (18 + 160), 6 * 160, 3), (
        "3 categories × (banner + 160 px cell), good + 5 defects"
    )


def test_cli_synth_reports_a_bad_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "synth"), "--size", "8"]) == 2
    assert "at least 32 px" in capsys.readouterr().err
