"""A dataset uploaded as a ``.zip``, checked entry by entry and extracted into ``<data root>/uploads/<name>/``.

Refused before anything is written: data that is not a zip from its first byte (e.g. an image with a zip appended),
paths that leave the folder (``..``, absolute), symbolic links, names with control characters, an entry twice,
encrypted entries or compression methods that cannot be read, more files or more uncompressed bytes than the
settings allow, and a compression ratio no image dataset has (a zip bomb). Extraction goes to a partial folder renamed
into place at the end; an entry whose bytes differ from what the zip declares (size, CRC) stops it and leaves nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from services.access import ActingUser, Action, require
from services.data.categories import check_category_name
from services.settings import Settings

UPLOADS = "uploads"
MB = 1024 * 1024
SKIPPED_PARTS = ("__MACOSX",)
SKIPPED_NAMES = (".DS_Store", "Thumbs.db")
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")
"""A zip's first local file header, or the end record of an empty zip."""
READABLE_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
ENCRYPTED_FLAG = 0x1
MAX_RATIO = 100
"""Most uncompressed bytes per compressed byte: photos and masks compress far less, zip bombs far more."""
RATIO_FLOOR = MB
"""Zips unpacking to less than this are not checked for their ratio (a few small, very regular files are harmless)."""


class UploadError(ValueError):
    """A zip that is refused, with the entry and the rule it breaks."""


@dataclass(frozen=True)
class ExtractedUpload:
    """Where the upload's files now live, how many and how large."""

    folder: Path
    files: int
    bytes: int


def upload_folder(settings: Settings, name: str) -> Path:
    """``<data root>/uploads/<name>`` for a checked product name."""
    return settings.data_root / UPLOADS / check_category_name(name)


def _entry_path(info: zipfile.ZipInfo) -> PurePosixPath:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(f"zip entry {info.filename!r} has an absolute path; only relative paths are extracted")
    if ".." in path.parts:
        raise UploadError(f"zip entry {info.filename!r} leaves the upload folder ('..'); refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise UploadError(f"zip entry {info.filename!r} is a symbolic link; links are refused")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise UploadError(f"zip entry {info.filename!r} has a control character in its name; rename the file")
    if info.flag_bits & ENCRYPTED_FLAG:
        raise UploadError(f"zip entry {info.filename!r} is encrypted; upload a zip without a password")
    if info.compress_type not in READABLE_METHODS:
        raise UploadError(
            f"zip entry {info.filename!r} uses compression method {info.compress_type}, which cannot be read; "
            f"accepted: {', '.join(READABLE_METHODS.values())}"
        )
    return path


def _members(archive: zipfile.ZipFile, settings: Settings) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    members = []
    seen: set[PurePosixPath] = set()
    for info in archive.infolist():
        path = _entry_path(info)
        if info.is_dir() or path.name in SKIPPED_NAMES or any(part in SKIPPED_PARTS for part in path.parts):
            continue
        if path in seen:
            raise UploadError(f"zip entry {info.filename!r} appears twice; each file may appear once")
        seen.add(path)
        members.append((info, path))
    if not members:
        raise UploadError("the zip holds no files")
    if len(members) > settings.max_upload_files:
        raise UploadError(
            f"the zip holds {len(members)} files, more than the {settings.max_upload_files} allowed "
            "(ANOMALYLENS_MAX_UPLOAD_FILES)"
        )
    total = sum(info.file_size for info, _ in members)
    if total > settings.max_upload_mb * MB:
        raise UploadError(
            f"the zip unpacks to {total / MB:.0f} MB, more than the {settings.max_upload_mb} MB allowed "
            "(ANOMALYLENS_MAX_UPLOAD_MB)"
        )
    packed = sum(info.compress_size for info, _ in members)
    if total > RATIO_FLOOR and total > MAX_RATIO * packed:
        raise UploadError(
            f"the zip unpacks to {total / MB:.0f} MB from {packed / MB:.2f} MB, a ratio of {total / max(packed, 1):.0f}"
            f" to 1: refused as a zip bomb (image datasets compress less than {MAX_RATIO} to 1)"
        )
    return members


def _strip_common_folder(paths: list[PurePosixPath]) -> int:
    """1 when every file sits under one top folder (a zipped folder), so its content becomes the dataset root."""
    tops = {path.parts[0] for path in paths}
    return 1 if len(tops) == 1 and all(len(path.parts) > 1 for path in paths) else 0


def extract_dataset_zip(settings: Settings, name: str, data: bytes, *, user: ActingUser) -> ExtractedUpload:
    """Check every entry of the zip, then extract it into ``<data root>/uploads/<name>/``; raises
    ``AccessDeniedError`` for a user who may not import datasets, else UploadError."""
    require(user, Action.IMPORT)
    target = upload_folder(settings, name)
    if target.exists():
        raise UploadError(f"an upload named {name!r} already exists in {target}: choose another product name")
    if not data.startswith(ZIP_STARTS):
        raise UploadError(
            "the upload is not a readable .zip file: it does not start with a zip header (e.g. an image with a zip "
            "appended); upload the .zip itself"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UploadError(f"the upload is not a readable .zip file ({exc})") from exc
    with archive:
        members = _members(archive, settings)
        strip = _strip_common_folder([path for _, path in members])
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            for info, path in members:
                destination = partial.joinpath(*path.parts[strip:])
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise UploadError(f"the zip could not be extracted: {exc}") from exc
    os.replace(partial, target)
    return ExtractedUpload(folder=target, files=len(members), bytes=sum(info.file_size for info, _ in members))
