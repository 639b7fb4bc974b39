"""Safe decoding of uploaded and on-disk images into 8-bit RGB arrays.

Accepted: PNG, JPEG, BMP and TIFF of any size up to ``max_pixels`` (callers pass
``Settings.max_image_pixels``). Every rejection raises :class:`ImageInputError` naming the file, the reason and
what is accepted. Conversions:

* grayscale, palette, CMYK, … → RGB;
* an alpha channel or a transparency key (RGBA, LA, PA, P or L with ``tRNS``) → composited on a neutral mid-gray
  background (:data:`BACKGROUND_RGB`), so transparent areas read neither as bright nor as dark defects;
* 16-bit grayscale (``I;16``, ``I;16B``, ``I;16L``) → scaled by its full range, ``round(v * 255 / 65535)``;
  Pillow itself reduces 16-bit RGB PNG/TIFF to 8 bits per channel (its high byte) when opening;
* the EXIF orientation tag is applied, so width and height are those of the upright image.

Every image a model sees goes through :func:`load_image`: uploads, and dataset files via :func:`read_rgb` (training,
validation, calibration, test scoring, panels, indexing), so a file scores the same in the registry and in the Detector.

Decoding is forced to completion, so a truncated file is an error (Pillow's ``LOAD_TRUNCATED_IMAGES`` is never
changed). The pixel count is checked from the header before any pixel is decoded; Pillow's own decompression-bomb
check (``Image.MAX_IMAGE_PIXELS``, 89.5 M) also rejects, so the effective limit is the smaller of the two.
A file must be what its name says (``x.png`` holds a PNG), and a file with a zip archive appended to its image (a
polyglot, readable as both) is refused.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from services.settings import get_settings

ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "PNG": (b"\x89PNG\r\n\x1a\n",),
    "JPEG": (b"\xff\xd8\xff",),
    "BMP": (b"BM",),
    "TIFF": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
}
"""File signatures of the accepted formats, used to tell a damaged header from a file that is no image at all."""
SUFFIX_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
"""Image file suffixes and the format a file so named must hold."""
ZIP_END = b"PK\x05\x06"
ZIP_END_SIZE = 22
ZIP_COMMENT_MAX = 65_535
BACKGROUND_RGB = (128, 128, 128)
"""Neutral mid-gray that transparent pixels are composited on."""
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
UPLOAD_NAME = "upload"
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)
"""EXIF orientations whose upright image swaps width and height (transposed or rotated by 90°)."""


class ImageInputError(ValueError):
    """An image file that cannot be accepted; the message names the file, the reason and what is accepted."""


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image: upright 8-bit RGB pixels plus what the file was."""

    name: str
    rgb: np.ndarray
    """``(height, width, 3)`` ``uint8`` array."""
    source_format: str
    """Pillow's format name: ``PNG``, ``JPEG``, ``BMP`` or ``TIFF``."""
    source_mode: str
    """Pillow's pixel mode of the file before conversion, e.g. ``L``, ``RGBA``, ``I;16``."""
    width: int
    height: int


def accepted_text(max_pixels: int) -> str:
    """What :func:`load_image` accepts, for error messages and upload hints."""
    return f"accepted: {', '.join(ACCEPTED_FORMATS)} up to {max_pixels:,} pixels"


def load_image(source: bytes | Path, *, name: str | None = None, max_pixels: int) -> LoadedImage:
    """Decode ``source`` (file bytes or a path) into an upright RGB image; see the module docstring for the rules.

    ``name`` labels the image in results and errors (default: the file name, or ``upload`` for bytes).
    Raises :class:`ImageInputError` for every input that is not an accepted, complete image within ``max_pixels``.
    """
    if isinstance(source, Path):
        label = name or source.name
        try:
            with source.open("rb") as stream:
                return _decode(stream, label, max_pixels)
        except OSError as exc:
            raise _error(label, f"cannot be read ({exc.strerror or exc})", max_pixels) from exc
    return _decode(io.BytesIO(source), name or UPLOAD_NAME, max_pixels)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """Width and height of an opened image once :func:`load_image` has applied its EXIF orientation, read from the
    header (a PNG whose EXIF chunk follows its pixels is decoded to find it)."""
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    return image.size[::-1] if orientation in TRANSPOSING_ORIENTATIONS else image.size


def read_rgb(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """The ``(height, width, 3)`` ``uint8`` pixels of an image file, decoded by :func:`load_image`'s rules.

    ``max_pixels`` defaults to the process settings' limit, for readers that get no Settings (anomalib's dataset,
    test scoring, indexing), so the one limit an operator sets applies to every decode.
    """
    limit = get_settings().max_image_pixels if max_pixels is None else max_pixels
    return load_image(Path(path), max_pixels=limit).rgb


def _error(name: str, reason: str, max_pixels: int) -> ImageInputError:
    return ImageInputError(f"{name}: {reason}; {accepted_text(max_pixels)}")


def _signature_format(header: bytes) -> str | None:
    """The accepted format whose signature starts ``header``, if any."""
    for fmt, signatures in SIGNATURES.items():
        if header.startswith(signatures):
            return fmt
    return None


def _ends_with_zip(stream: BinaryIO) -> bool:
    """True when the file ends with a zip archive's end record whose comment length reaches exactly the file's end."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(max(0, size - ZIP_END_SIZE - ZIP_COMMENT_MAX))
    tail = stream.read()
    stream.seek(0)
    at = tail.rfind(ZIP_END)
    while at >= 0:
        comment = int.from_bytes(tail[at + ZIP_END_SIZE - 2 : at + ZIP_END_SIZE], "little")
        if at + ZIP_END_SIZE + comment == len(tail):
            return True
        at = tail.rfind(ZIP_END, 0, at)
    return False


def _open(stream: BinaryIO, name: str, max_pixels: int) -> Image.Image:
    """Read the header only, turning Pillow's identification and decompression-bomb failures into our error."""
    header = stream.read(16)
    if not header:
        raise _error(name, "the file is empty (0 bytes)", max_pixels)
    if _ends_with_zip(stream):
        reason = "holds a zip archive besides its image (a file readable as two formats); save the image on its own"
        raise _error(name, reason, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _error(name, f"rejected as a possible decompression bomb ({exc})", max_pixels) from exc
    except UnidentifiedImageError as exc:
        fmt = _signature_format(header)
        if fmt is None:
            raise _error(name, "is not an image (no PNG, JPEG, BMP or TIFF signature)", max_pixels) from exc
        reason = f"has a {fmt} signature but an invalid header (zero width or height, or damaged data)"
        raise _error(name, reason, max_pixels) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # a header cut short, or a metadata chunk too large
        fmt = _signature_format(header) or "image"
        raise _error(name, f"is truncated or corrupt: its {fmt} header cannot be read ({exc})", max_pixels) from exc


def _check_suffix(image: Image.Image, name: str, max_pixels: int) -> None:
    """Refuse a file whose suffix names another accepted format than the one it holds (e.g. a JPEG named .png)."""
    expected = SUFFIX_FORMATS.get(Path(name).suffix.lower())
    if expected is not None and expected != image.format:
        suffixes = "/".join(suffix for suffix, fmt in SUFFIX_FORMATS.items() if fmt == image.format)
        reason = (
            f"is named {Path(name).suffix} but holds a {image.format} image; rename it to {suffixes} "
            f"or save it again as {expected}"
        )
        raise _error(name, reason, max_pixels)


def _decode(stream: BinaryIO, name: str, max_pixels: int) -> LoadedImage:
    with _open(stream, name, max_pixels) as image:
        if image.format not in ACCEPTED_FORMATS:
            raise _error(name, f"format {image.format} is not supported", max_pixels)
        _check_suffix(image, name, max_pixels)
        width, height = image.size
        if width * height > max_pixels:
            raise _error(name, f"is too large: {width}×{height} = {width * height:,} pixels", max_pixels)
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _error(name, f"is truncated or corrupt ({exc})", max_pixels) from exc
        source_format, source_mode = image.format, image.mode
    rgb = _to_rgb(upright, name, max_pixels)
    return LoadedImage(
        name=name,
        rgb=rgb,
        source_format=source_format,
        source_mode=source_mode,
        width=rgb.shape[1],
        height=rgb.shape[0],
    )


def _to_rgb(image: Image.Image, name: str, max_pixels: int) -> np.ndarray:
    """8-bit RGB pixels of a fully loaded image (see the module docstring for each mode)."""
    if image.mode in SIXTEEN_BIT_MODES:
        gray = np.rint(np.asarray(image, dtype=np.float64) * (255 / 65535)).astype(np.uint8)
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if image.mode in ("I", "F"):
        raise _error(name, f"pixel mode {image.mode} (32-bit integer or float) is not supported", max_pixels)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        background = Image.new("RGBA", image.size, (*BACKGROUND_RGB, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return np.array(image.convert("RGB"), dtype=np.uint8)
