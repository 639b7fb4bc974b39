"""Property: whatever bytes reach the decoder (random, or real images of every accepted kind mutated), it returns an
upright 8-bit RGB image or raises the one typed input error, :class:`ImageInputError`; nothing else escapes."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from services.data.images import ImageInputError, LoadedImage, load_image

LIMIT = 1_000_000


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _real_images() -> list[bytes]:
    """Real files of every accepted format, mode and common compression the decoder meets."""
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8))
    gray16 = Image.fromarray(np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 80)
    return [
        _encode(rgb, "PNG"),
        _encode(rgb.convert("RGBA"), "PNG"),
        _encode(rgb.convert("P"), "PNG", transparency=0),
        _encode(gray16, "PNG"),
        _encode(rgb, "JPEG", quality=85),
        _encode(rgb, "JPEG", progressive=True),
        _encode(rgb.convert("L"), "JPEG"),
        _encode(rgb, "BMP"),
        _encode(rgb.convert("P"), "BMP"),
        _encode(rgb, "TIFF"),
        _encode(rgb, "TIFF", compression="tiff_lzw"),
        _encode(rgb, "TIFF", compression="tiff_adobe_deflate"),
        _encode(gray16, "TIFF"),
    ]


REAL = _real_images()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real image with bytes flipped, cut, inserted or deleted, or with its header spliced onto another's body."""
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data = data[:at] + draw(st.sampled_from(REAL))[at:]
    return bytes(data)


def _decode(data: bytes) -> LoadedImage | None:
    """The decoded image, or None when it raised the typed input error (any other exception fails the test)."""
    try:
        return load_image(data, name="fuzzed", max_pixels=LIMIT)
    except ImageInputError as exc:
        assert str(exc).startswith("fuzzed: ")
        return None


def _check(image: LoadedImage | None) -> None:
    if image is not None:
        assert image.rgb.dtype == np.uint8
        assert image.rgb.shape == (image.height, image.width, 3)
        assert image.width * image.height <= LIMIT


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_real_images_decode_or_raise_the_typed_error(data: bytes) -> None:
    _check(_decode(data))


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.binary(max_size=2048)
    | st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00"]).flatmap(
        lambda signature: st.binary(max_size=512).map(lambda body: signature + body)
    )
)
def test_random_bytes_with_or_without_a_signature_decode_or_raise_the_typed_error(data: bytes) -> None:
    _check(_decode(data))


def test_every_seed_image_decodes() -> None:
    """The mutations start from files the decoder accepts, so they probe its edges rather than its first check."""
    assert all(_decode(data) is not None for data in REAL)
