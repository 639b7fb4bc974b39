"""Safe image decoding: every accepted kind of file and every kind of rejection."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from services.data import images
from services.data.images import (
    BACKGROUND_RGB,
    ImageInputError,
    LoadedImage,
    load_image,
    read_rgb,
    upright_size,
)
from services.settings import Settings

MAX_PIXELS = Settings().max_image_pixels
EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def png_with_size(width: int, height: int) -> bytes:
    """A valid PNG whose IHDR claims another size (CRC fixed), for header-only checks."""
    data = bytearray(encode(Image.new("L", (4, 4)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def load(data: bytes, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    return load_image(data, name="sample.img", max_pixels=max_pixels)


def test_rgb_png_round_trips_exactly() -> None:
    pixels = noise(7, 11)
    loaded = load(encode(Image.fromarray(pixels), "PNG"))
    assert (loaded.width, loaded.height, loaded.source_format, loaded.source_mode) == (11, 7, "PNG", "RGB")
    assert loaded.rgb.dtype == np.uint8
    np.testing.assert_array_equal(loaded.rgb, pixels)


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = noise(6, 5, channels=1)
    loaded = load(encode(Image.fromarray(gray, mode="L"), "PNG"))
    assert loaded.source_mode == "L"
    assert loaded.rgb.shape == (6, 5, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded.rgb[:, :, channel], gray)


def test_rgba_is_composited_on_the_neutral_background() -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[:2] = (255, 0, 0, 255)  # opaque red on top, fully transparent black below
    rgba[2:] = (0, 0, 0, 0)
    loaded = load(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert loaded.source_mode == "RGBA"
    assert tuple(loaded.rgb[0, 0]) == (255, 0, 0)
    assert tuple(loaded.rgb[3, 3]) == BACKGROUND_RGB


def test_half_transparent_la_is_blended() -> None:
    la = np.zeros((2, 2, 2), dtype=np.uint8)
    la[..., 0], la[..., 1] = 255, 128
    loaded = load(encode(Image.fromarray(la, mode="LA"), "PNG"))
    expected = round(255 * 128 / 255 + BACKGROUND_RGB[0] * (1 - 128 / 255))
    assert abs(int(loaded.rgb[0, 0, 0]) - expected) <= 1


def test_palette_with_transparent_index_uses_background() -> None:
    palette_image = Image.new("P", (3, 3), 1)
    palette_image.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette_image.putpixel((0, 0), 0)
    loaded = load(encode(palette_image, "PNG", transparency=0))
    assert tuple(loaded.rgb[0, 0]) == BACKGROUND_RGB
    assert tuple(loaded.rgb[2, 2]) == (0, 255, 0)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_grayscale_is_scaled_by_full_range(fmt: str) -> None:
    values = np.array([[0, 257, 32896], [65535, 1000, 50000]], dtype=np.uint16)
    loaded = load(encode(Image.fromarray(values), fmt))
    assert loaded.source_mode.startswith("I;16")
    np.testing.assert_array_equal(loaded.rgb[:, :, 1], np.rint(values / 65535 * 255).astype(np.uint8))


def test_big_endian_sixteen_bit_tiff() -> None:
    values = np.array([[0, 65535], [25700, 12850]], dtype=">u2")
    image = Image.frombytes("I;16B", (2, 2), values.tobytes())
    loaded = load(encode(image, "TIFF"))
    np.testing.assert_array_equal(loaded.rgb[:, :, 0], [[0, 255], [100, 50]])


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_sixteen_bit_rgb_files_keep_their_high_byte(tmp_path: Path, suffix: str) -> None:
    cv2 = pytest.importorskip("cv2")
    rgb16 = np.random.default_rng(1).integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    path = tmp_path / f"deep{suffix}"
    assert cv2.imwrite(str(path), rgb16[:, :, ::-1])  # OpenCV writes BGR
    loaded = load_image(path, max_pixels=MAX_PIXELS)
    assert loaded.name == path.name
    assert np.abs(loaded.rgb.astype(int) - rgb16 / 257).max() <= 1


def test_exif_rotated_jpeg_is_returned_upright() -> None:
    landscape = Image.new("RGB", (20, 10), (200, 40, 40))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # stored rotated: display turned 90° clockwise
    loaded = load(encode(landscape, "JPEG", exif=exif.tobytes()))
    assert loaded.source_format == "JPEG"
    assert (loaded.width, loaded.height) == (10, 20)
    assert loaded.rgb.shape == (20, 10, 3)


def test_bmp_from_path_with_explicit_name(tmp_path: Path) -> None:
    pixels = noise(9, 4)
    path = tmp_path / "part.bmp"
    Image.fromarray(pixels).save(path)
    loaded = load_image(path, name="line-3", max_pixels=MAX_PIXELS)
    assert (loaded.name, loaded.source_format) == ("line-3", "BMP")
    np.testing.assert_array_equal(loaded.rgb, pixels)


def test_plain_jpeg_is_close_to_its_source() -> None:
    loaded = load(encode(Image.new("RGB", (16, 16), (10, 200, 30)), "JPEG", quality=95))
    assert np.abs(loaded.rgb.astype(int) - (10, 200, 30)).max() <= 3


@pytest.mark.parametrize(("orientation", "size"), [(1, (20, 10)), (3, (20, 10)), (6, (10, 20)), (8, (10, 20))])
def test_upright_size_is_the_decoded_size_without_decoding(orientation: int, size: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    data = encode(Image.new("RGB", (20, 10)), "JPEG", exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as image:
        assert upright_size(image) == size
    assert (load(data).width, load(data).height) == size


def test_read_rgb_is_load_image_with_the_settings_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "part.png"
    pixels = noise(10, 11)
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(read_rgb(path), load_image(path, max_pixels=MAX_PIXELS).rgb)
    monkeypatch.setattr(images, "get_settings", lambda: Settings(max_image_pixels=100))
    with pytest.raises(ImageInputError, match=r"part\.png: is too large: 11×10 = 110 pixels; accepted: .* up to 100 "):
        read_rgb(path)
    np.testing.assert_array_equal(read_rgb(path, max_pixels=110), pixels)


def assert_rejected(data: bytes, reason: str, max_pixels: int = MAX_PIXELS) -> None:
    with pytest.raises(ImageInputError) as info:
        load(data, max_pixels)
    message = str(info.value)
    assert message.startswith("sample.img: ")
    assert reason in message
    assert f"accepted: PNG, JPEG, BMP, TIFF up to {max_pixels:,} pixels" in message


def test_empty_bytes_rejected() -> None:
    assert_rejected(b"", "empty (0 bytes)")


def test_zero_byte_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    path.touch()
    with pytest.raises(ImageInputError, match=r"blank\.png: the file is empty"):
        load_image(path, max_pixels=MAX_PIXELS)


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match=r"absent\.png: cannot be read"):
        load_image(tmp_path / "absent.png", max_pixels=MAX_PIXELS)


def test_text_is_not_an_image() -> None:
    assert_rejected(b"defect report, not pixels", "is not an image")


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "ICO"])
def test_other_image_formats_are_unsupported(fmt: str) -> None:
    assert_rejected(encode(Image.new("RGB", (8, 8)), fmt), f"format {fmt} is not supported")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF"])
def test_truncated_files_rejected(fmt: str) -> None:
    data = encode(Image.fromarray(noise(64, 64)), fmt)
    assert_rejected(data[: len(data) // 2], "is truncated or corrupt")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(("width", "height"), [(0, 5), (5, 0)])
def test_zero_size_dimension_rejected(width: int, height: int) -> None:
    assert_rejected(png_with_size(width, height), "invalid header (zero width or height")


def test_more_pixels_than_allowed_rejected_before_decoding() -> None:
    assert_rejected(png_with_size(3000, 2000), "is too large: 3000×2000 = 6,000,000 pixels", max_pixels=5_000_000)


def test_limit_is_inclusive() -> None:
    assert load(encode(Image.new("L", (10, 10)), "PNG"), max_pixels=100).rgb.shape == (10, 10, 3)
    assert_rejected(encode(Image.new("L", (10, 11)), "PNG"), "is too large", max_pixels=100)


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_pillow_decompression_bomb_checks_reject(side: int) -> None:
    """10k² triggers Pillow's bomb warning, 20k² its bomb error; both reject even under a generous limit."""
    assert_rejected(png_with_size(side, side), "possible decompression bomb", max_pixels=10**9)
