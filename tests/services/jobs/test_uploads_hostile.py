"""Hostile dataset zips uploaded on the Train page: each is refused with the entry or value and the rule named, and
not one file is written anywhere (no partial folder, nothing outside the upload folder)."""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.access import local_user
from services.jobs.uploads import UploadError, extract_dataset_zip
from services.settings import Settings

LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"
FLAGS_AT = {LOCAL: 6, CENTRAL: 8}
METHOD_AT = {LOCAL: 8, CENTRAL: 10}
SIZE_AT = {LOCAL: 22, CENTRAL: 24}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "w")


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def with_link(name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good/a.png", b"x")
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def patched(data: bytes, offsets: dict[bytes, int], fmt: str, value: int) -> bytes:
    """``data`` with a field of every local and central header set to ``value`` (a flag, the method, a size)."""
    out = bytearray(data)
    for signature, offset in offsets.items():
        for found in re.finditer(re.escape(signature), data):
            struct.pack_into(fmt, out, found.start() + offset, value)
    return bytes(out)


def duplicated() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good/a.png", b"first")
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("good/a.png", b"second")
    return buffer.getvalue()


def png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "zip-slip ../../x": (lambda: zip_of({"../../x": b"x"}), "zip entry '../../x' leaves the upload folder ('..')"),
    "zip-slip inside a folder": (
        lambda: zip_of({"good/./../../evil.png": b"x"}),
        "zip entry 'good/./../../evil.png' leaves the upload folder",
    ),
    "zip-slip with backslashes": (
        lambda: zip_of({"..\\..\\evil.png": b"x"}),
        "zip entry '..\\\\..\\\\evil.png' leaves the upload folder",
    ),
    "absolute POSIX path": (lambda: zip_of({"/etc/cron.d/x": b"x"}), "zip entry '/etc/cron.d/x' has an absolute path"),
    "absolute Windows path": (lambda: zip_of({"C:\\evil.png": b"x"}), "has an absolute path; only relative paths"),
    "UNC path": (lambda: zip_of({"//server/share/x.png": b"x"}), "zip entry '//server/share/x.png' has an absolute"),
    "symbolic link": (lambda: with_link("good/b.png", "/etc/passwd"), "zip entry 'good/b.png' is a symbolic link"),
    "control character in a name": (
        lambda: zip_of({"good/a\nb.png": b"x"}),
        "zip entry 'good/a\\nb.png' has a control character in its name",
    ),
    "an entry twice": (duplicated, "zip entry 'good/a.png' appears twice; each file may appear once"),
    "encrypted entry": (
        lambda: patched(zip_of({"good/a.png": b"x"}), FLAGS_AT, "<H", 1),
        "zip entry 'good/a.png' is encrypted; upload a zip without a password",
    ),
    "unknown compression method": (
        lambda: patched(zip_of({"good/a.png": b"x"}), METHOD_AT, "<H", 99),
        "zip entry 'good/a.png' uses compression method 99, which cannot be read; accepted: stored, deflate",
    ),
    "zip bomb by ratio": (
        lambda: zip_of({"good/flat.bmp": b"\0" * (8 * 1024 * 1024)}),
        "to 1: refused as a zip bomb (image datasets compress less than 100 to 1)",
    ),
    "zip bomb by size": (
        lambda: zip_of({f"good/{i}.bmp": bytes(range(256)) * 4096 * 20 for i in range(2)}),
        "the zip unpacks to 40 MB, more than the 32 MB allowed (ANOMALYLENS_MAX_UPLOAD_MB)",
    ),
    "sizes that lie": (
        lambda: patched(zip_of({"good/a.bmp": bytes(range(256)) * 64}), SIZE_AT, "<I", 100),
        "the zip could not be extracted: Bad CRC-32 for file 'good/a.bmp'",
    ),
    "an image with a zip appended": (
        lambda: png() + zip_of({"good/a.png": b"x"}),
        "the upload is not a readable .zip file: it does not start with a zip header",
    ),
    "0-byte upload": (lambda: b"", "the upload is not a readable .zip file"),
    "truncated zip": (lambda: zip_of({"good/a.png": png()})[:60], "the upload is not a readable .zip file"),
    "a name too long for the disk": (
        lambda: zip_of({"good/" + "a" * 300 + ".png": b"x"}),
        "the zip could not be extracted: [Errno 36] File name too long",
    ),
    "too many files": (
        lambda: zip_of({f"good/{i}.png": b"x" for i in range(6)}),
        "the zip holds 6 files, more than the 5 allowed (ANOMALYLENS_MAX_UPLOAD_FILES)",
    ),
}


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if not path.is_dir()}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_zip_is_refused_naming_the_rule_and_writes_nothing(
    settings: Settings, tmp_path: Path, case: str
) -> None:
    make, message = HOSTILE[case]
    data = make()
    limited = settings.with_overrides(max_upload_mb=32, max_upload_files=5)
    before = files_under(tmp_path)
    with pytest.raises(UploadError, match=re.escape(message)):
        extract_dataset_zip(limited, "pcb", data, user=local_user())
    assert files_under(tmp_path) == before, "no file written anywhere"
    uploads = settings.data_root / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "no partial folder left"


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "../../x", "pcb\nconnector", "a" * 65])
def test_a_hostile_product_name_is_refused_before_the_zip_is_read(
    settings: Settings, tmp_path: Path, name: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(f"unsafe category name {name!r}")):
        extract_dataset_zip(settings, name, zip_of({"good/a.png": b"x"}), user=local_user())
    assert files_under(tmp_path) == set()


def test_names_with_html_are_data_and_extract_as_plain_files(settings: Settings) -> None:
    names = ["good/<img src=x onerror=alert(1)>.png", "<b>scratch/a.png"]
    extracted = extract_dataset_zip(settings, "pcb", zip_of(dict.fromkeys(names, b"x")), user=local_user())
    assert sorted(p.relative_to(extracted.folder).as_posix() for p in files_under(extracted.folder)) == sorted(names)
