"""A dataset .zip: refused entry by entry before anything is written, else extracted into uploads/<name>/."""

from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path

import pytest

from services.access import AccessDeniedError, ActingUser, Role, local_user
from services.jobs.uploads import UploadError, extract_dataset_zip
from services.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "w")


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_a_zipped_folder_is_extracted_with_its_top_folder_removed(settings: Settings) -> None:
    data = _zip(
        {
            "pcb/good/a.jpg": b"a",
            "pcb/solder_bridge/b.jpg": b"bb",
            "pcb/.DS_Store": b"x",
            "__MACOSX/pcb/._a.jpg": b"x",
        }
    )
    extracted = extract_dataset_zip(settings, "pcb_connector", data, user=local_user())
    target = settings.data_root / "uploads" / "pcb_connector"
    assert (extracted.folder, extracted.files, extracted.bytes) == (target, 2, 3)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "good/a.jpg",
        "solder_bridge/b.jpg",
    ]
    assert sorted(p.name for p in target.parent.iterdir()) == ["pcb_connector"]


@pytest.mark.parametrize(
    ("entries", "links", "message"),
    [
        ({"good/../../evil.jpg": b"x"}, (), "'good/../../evil.jpg' leaves the upload folder"),
        ({"/etc/cron.d/evil": b"x"}, (), "'/etc/cron.d/evil' has an absolute path"),
        ({"C:\\evil.jpg": b"x"}, (), "has an absolute path"),
        ({"good/a.jpg": b"x"}, ("good/link.jpg",), "'good/link.jpg' is a symbolic link"),
        ({"good/": b""}, (), "the zip holds no files"),
    ],
)
def test_unsafe_entries_are_refused_before_anything_is_written(
    settings: Settings, entries: dict[str, bytes], links: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UploadError, match=re.escape(message)):
        extract_dataset_zip(settings, "pcb", _zip(entries, links), user=local_user())
    assert not (settings.data_root / "uploads").exists() or not any((settings.data_root / "uploads").iterdir())


def test_file_count_and_uncompressed_size_limits(settings: Settings) -> None:
    few = settings.with_overrides(max_upload_files=2)
    with pytest.raises(UploadError, match="holds 3 files, more than the 2 allowed"):
        extract_dataset_zip(few, "pcb", _zip({f"good/{i}.jpg": b"x" for i in range(3)}), user=local_user())
    small = settings.with_overrides(max_upload_mb=1)
    bomb = _zip({"good/big.bmp": b"\0" * (1024 * 1024 + 1)})  # compresses to a few kB
    assert len(bomb) < 10_000
    with pytest.raises(UploadError, match="unpacks to 1 MB, more than the 1 MB allowed"):
        extract_dataset_zip(small, "pcb", bomb, user=local_user())


def test_a_bad_name_a_duplicate_and_a_non_zip_are_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match=re.escape("unsafe category name '../x'")):
        extract_dataset_zip(settings, "../x", _zip({"a.jpg": b"x"}), user=local_user())
    with pytest.raises(UploadError, match=re.escape("not a readable .zip")):
        extract_dataset_zip(settings, "pcb", b"PNG but not a zip", user=local_user())
    extract_dataset_zip(settings, "pcb", _zip({"a.jpg": b"x"}), user=local_user())
    with pytest.raises(UploadError, match="an upload named 'pcb' already exists"):
        extract_dataset_zip(settings, "pcb", _zip({"b.jpg": b"y"}), user=local_user())


def test_an_operator_may_not_upload_a_dataset_and_nothing_is_written(settings: Settings) -> None:
    operator = ActingUser("olga", Role.OPERATOR, signed_in=True)
    with pytest.raises(AccessDeniedError, match=r"^olga \(operator\) may not import models or datasets"):
        extract_dataset_zip(settings, "pcb", _zip({"good/a.jpg": b"a"}), user=operator)
    assert not settings.data_root.exists()
