"""Bundled natural photos are found offline and cropped reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from services.data.natural_images import (
    NaturalImagesError,
    NaturalPhoto,
    augmented_crop,
    natural_photos,
    random_crops,
)


def test_photos_are_found_offline_as_rgb_uint8(no_network: list[str]) -> None:
    photos = natural_photos()
    assert len(photos) >= 10
    assert len({photo.name for photo in photos}) == len(photos)
    for photo in photos:
        assert photo.rgb.dtype == np.uint8
        assert photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
        assert min(photo.rgb.shape[:2]) >= 128
    assert no_network == []


def test_gray_photos_are_converted_to_rgb() -> None:
    camera = next(photo for photo in natural_photos() if photo.name == "camera")
    assert np.array_equal(camera.rgb[..., 0], camera.rgb[..., 2])


def test_random_crops_shape_and_determinism() -> None:
    photos = natural_photos()
    first = random_crops(photos, 6, 48, np.random.default_rng(3))
    again = random_crops(photos, 6, 48, np.random.default_rng(3))
    other = random_crops(photos, 6, 48, np.random.default_rng(4))
    assert first.shape == (6, 48, 48, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.std() > 10  # real content, not blank crops


def test_crops_take_height_width_pairs() -> None:
    crop = augmented_crop(natural_photos()[0].rgb, (40, 72), np.random.default_rng(0))
    assert crop.shape == (40, 72, 3)


def test_crops_are_augmented_not_plain_resizes() -> None:
    flat = NaturalPhoto("gradient", "test", np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (64, 1, 3)))
    crops = random_crops([flat], 20, 32, np.random.default_rng(0))
    left_to_right = [crop[:, -1].mean() - crop[:, 0].mean() for crop in crops]
    assert min(left_to_right) < 0 < max(left_to_right)  # flips/rotations happen
    assert len({int(crop.mean()) for crop in crops}) > 5  # colour jitter and crop positions vary


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: random_crops([], 1, 32, np.random.default_rng(0)), "at least one photo"),
        (lambda: random_crops(natural_photos(), -1, 32, np.random.default_rng(0)), ">= 0"),
        (lambda: random_crops(natural_photos(), 1, 0, np.random.default_rng(0)), "positive"),
        (lambda: augmented_crop(np.zeros((8, 8), np.uint8), 4, np.random.default_rng(0)), "H×W×3 uint8"),
    ],
)
def test_bad_arguments_raise_one_typed_error(call: object, message: str) -> None:
    with pytest.raises(NaturalImagesError, match=message):
        call()  # type: ignore[operator]
