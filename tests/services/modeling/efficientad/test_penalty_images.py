"""The penalty folder is an ImageFolder of natural crops, rebuilt only when its recipe changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from services.modeling.efficientad.penalty_images import PenaltyImagesError, build_penalty_folder
from services.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(registry_dir=tmp_path / "registry", weights_dir=tmp_path / "weights")


def test_writes_an_image_folder_of_rgb_crops(settings: Settings, no_network: list[str]) -> None:
    root = build_penalty_folder(settings, n_images=5, size=32, seed=0)
    assert root == settings.registry_dir / "penalty_images"
    files = sorted((root / "natural").glob("*.png"))
    assert len(files) == 5
    for path in files:
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.size == (32, 32)
    dataset = ImageFolder(root)
    assert len(dataset) == 5 and dataset.classes == ["natural"]
    assert len({np.asarray(Image.open(path)).tobytes() for path in files}) == 5
    assert no_network == []


def test_same_recipe_is_reused_and_a_new_one_rewrites(settings: Settings) -> None:
    root = build_penalty_folder(settings, n_images=4, size=32, seed=0)
    first = root / "natural" / "0000.png"
    stamp = first.stat().st_mtime_ns
    build_penalty_folder(settings, n_images=4, size=32, seed=0)
    assert first.stat().st_mtime_ns == stamp
    build_penalty_folder(settings, n_images=3, size=32, seed=1)
    assert len(list((root / "natural").glob("*.png"))) == 3


def test_seed_defaults_to_settings(settings: Settings, tmp_path: Path) -> None:
    other = settings.with_overrides(registry_dir=tmp_path / "other", seed=0)
    explicit = build_penalty_folder(settings, n_images=2, size=32, seed=0)
    implicit = build_penalty_folder(other, n_images=2, size=32)
    assert (explicit / "natural" / "0001.png").read_bytes() == (implicit / "natural" / "0001.png").read_bytes()


@pytest.mark.parametrize(("n_images", "size", "message"), [(0, 32, "n_images"), (2, 8, "size")])
def test_bad_arguments_raise(settings: Settings, n_images: int, size: int, message: str) -> None:
    with pytest.raises(PenaltyImagesError, match=message):
        build_penalty_folder(settings, n_images=n_images, size=size)
