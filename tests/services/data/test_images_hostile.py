"""Hostile image files given to the one decoder (uploads on the Inspect page and every dataset file): each is refused
with one :class:`ImageInputError` naming the file, the rule and what is accepted, before any pixel of a bomb is
decoded, and the file and its folder are left as they were."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from services.data.images import SUFFIX_FORMATS, ImageInputError, accepted_text, load_image
from tests.services.data.test_images import encode, noise, png_with_size

LIMIT = 50_000_000
FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
SUFFIX = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif"}


def jpeg_with_size(width: int, height: int) -> bytes:
    """A valid JPEG whose start-of-frame claims another size."""
    data = bytearray(encode(Image.fromarray(noise(8, 8)), "JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_with_size(width: int, height: int) -> bytes:
    """A valid BMP whose info header claims another size."""
    data = bytearray(encode(Image.fromarray(noise(8, 8)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    """A minimal uncompressed 8-bit grayscale TIFF claiming ``width`` × ``height`` and holding 4 pixels."""
    tags = {256: width, 257: height, 258: 8, 259: 1, 262: 1, 273: 0, 277: 1, 278: height, 279: 4}
    tags[273] = 8 + 2 + 12 * len(tags) + 4  # the pixels follow the header and the one directory
    entries = b"".join(struct.pack("<HHII", tag, 4, 1, value) for tag, value in tags.items())  # type 4: LONG
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + b"\x00" * 4 + b"\x01" * 4


BOMBS = {
    "PNG": png_with_size,
    "JPEG": jpeg_with_size,
    "BMP": bmp_with_size,
    "TIFF": tiff_with_size,
}


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return buffer.getvalue()


def refused(tmp_path: Path, name: str, data: bytes) -> str:
    """Decode ``data`` saved as ``name``; the message of the refusal, after checking the folder did not change."""
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageInputError) as error:
        load_image(path, max_pixels=LIMIT)
    assert [p.name for p in tmp_path.iterdir()] == [name] and path.read_bytes() == data, "nothing else changed"
    message = str(error.value)
    assert message.startswith(f"{name}: ") and message.endswith(accepted_text(LIMIT))
    return message


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_decompression_bomb_far_above_pillows_limit_is_refused_from_its_header(tmp_path: Path, fmt: str) -> None:
    message = refused(tmp_path, f"bomb{SUFFIX[fmt]}", BOMBS[fmt](60_000, 60_000))
    assert re.search(r"rejected as a possible decompression bomb|is too large: 60000×60000", message), message


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_image_above_the_settings_limit_is_refused_from_its_header(tmp_path: Path, fmt: str) -> None:
    message = refused(tmp_path, f"huge{SUFFIX[fmt]}", BOMBS[fmt](8_000, 7_000))
    assert "is too large: 8000×7000 = 56,000,000 pixels" in message


@pytest.mark.parametrize("suffix", list(SUFFIX_FORMATS))
def test_a_zero_byte_file_of_every_accepted_suffix_is_refused(tmp_path: Path, suffix: str) -> None:
    assert "the file is empty (0 bytes)" in refused(tmp_path, f"blank{suffix}", b"")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keep", [8, 40, 0.5, 0.9])
def test_a_truncated_file_of_every_accepted_format_is_refused(tmp_path: Path, fmt: str, keep: float) -> None:
    data = encode(Image.fromarray(noise(64, 64)), fmt)
    cut = data[: int(len(data) * keep)] if isinstance(keep, float) else data[:keep]
    message = refused(tmp_path, f"cut{SUFFIX[fmt]}", cut)
    reasons = ("is truncated or corrupt", "invalid header", "is not an image")
    assert any(reason in message for reason in reasons), message


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_an_image_with_a_zip_appended_is_refused_as_a_polyglot(tmp_path: Path, fmt: str) -> None:
    data = encode(Image.fromarray(noise(16, 16)), fmt) + zip_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data)), "the sample is readable as a zip"
    assert "holds a zip archive besides its image" in refused(tmp_path, f"both{SUFFIX[fmt]}", data)


@pytest.mark.parametrize(
    ("name", "fmt", "message"),
    [
        ("photo.png", "JPEG", "is named .png but holds a JPEG image; rename it to .jpg/.jpeg or save it again as PNG"),
        ("photo.jpg", "PNG", "is named .jpg but holds a PNG image; rename it to .png or save it again as JPEG"),
        ("scan.tiff", "BMP", "is named .tiff but holds a BMP image; rename it to .bmp or save it again as TIFF"),
        ("anim.png", "GIF", "format GIF is not supported"),
    ],
)
def test_a_file_holding_another_format_than_its_name_says_is_refused(
    tmp_path: Path, name: str, fmt: str, message: str
) -> None:
    assert message in refused(tmp_path, name, encode(Image.fromarray(noise(8, 8)), fmt))


@pytest.mark.parametrize(
    "data",
    [b"<html><body><script>alert(1)</script></body></html>", b'<svg xmlns="http://www.w3.org/2000/svg"/>'],
    ids=["html", "svg"],
)
def test_markup_named_png_is_not_an_image(tmp_path: Path, data: bytes) -> None:
    assert "is not an image (no PNG, JPEG, BMP or TIFF signature)" in refused(tmp_path, "page.png", data)


def test_a_png_whose_text_chunk_inflates_to_megabytes_is_refused(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * (20 * 1024 * 1024), zip=True)
    buffer = io.BytesIO()
    Image.fromarray(noise(8, 8)).save(buffer, "PNG", pnginfo=info)
    assert len(buffer.getvalue()) < 100_000
    message = refused(tmp_path, "text-bomb.png", buffer.getvalue())
    assert "is truncated or corrupt: its PNG header cannot be read (Decompressed data too large" in message


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>.png", "line\nbreak.png", "tab\tand\x1bescape.png"])
def test_names_with_html_or_control_characters_are_named_verbatim_in_the_refusal(tmp_path: Path, name: str) -> None:
    """The service keeps the name as data; the pages render it as text (tests/pages/test_hostile_names.py)."""
    assert refused(tmp_path, name, b"not pixels").startswith(f"{name}: is not an image")


def test_an_ordinary_image_still_decodes_with_its_matching_suffix(tmp_path: Path) -> None:
    pixels = noise(5, 7)
    path = tmp_path / "fine.jpeg"
    path.write_bytes(encode(Image.fromarray(pixels), "PNG"))
    with pytest.raises(ImageInputError, match=r"is named \.jpeg but holds a PNG image"):
        load_image(path, max_pixels=LIMIT)
    path.rename(tmp_path / "fine.png")
    loaded = load_image(tmp_path / "fine.png", max_pixels=LIMIT)
    np.testing.assert_array_equal(loaded.rgb, pixels)
