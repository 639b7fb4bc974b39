"""Hostile model files given to ``import-run`` (the Models page calls the same function): each is refused with the
file and the rule named, runs none of its code, and leaves the registry as it was."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from services.access import AccessDeniedError, ActingUser, Role, local_user
from services.inference.model_import import ImportRequest, import_run
from services.registry.imports import ModelImportError
from services.registry.runs import list_runs
from services.settings import Settings
from tests.services.modeling.test_safe_load import WritesAFile


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "weights")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _malicious_ckpt(path: Path, marker: Path) -> None:
    torch.save({"state_dict": {}, "hyper_parameters": {"payload": WritesAFile(marker)}}, path)


def _malicious_export(path: Path, marker: Path) -> None:
    torch.save({"model": WritesAFile(marker)}, path)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>'
    b'<!DOCTYPE net [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b'<net name="&d;" version="11"><layers/><edges/></net>'
)
"""An IR graph whose name expands to 10⁴ copies of a word (a real bomb nests deeper; the declaration is the rule)."""
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    b'<net name="&secret;" version="11"><layers/><edges/></net>'
)

HOSTILE: dict[str, tuple[str, Callable[[Path, Path], None], str]] = {
    "malicious pickle in a .ckpt": (
        "evil.ckpt",
        _malicious_ckpt,
        "checkpoint evil.ckpt holds Python objects outside the allow-list of safe types (io.open)",
    ),
    "malicious .pt export without --trust": ("evil.pt", _malicious_export, "evil.pt refused: a torch .pt export"),
    "0-byte .ckpt": ("empty.ckpt", lambda p, _: p.write_bytes(b""), "checkpoint empty.ckpt is corrupt or truncated"),
    "a PNG named .ckpt": ("photo.ckpt", lambda p, _: p.write_bytes(_png()), "checkpoint photo.ckpt is corrupt"),
    "HTML in the file name": (
        "<img src=x onerror=alert(1)>.ckpt",
        lambda p, _: p.write_bytes(b"<html>"),
        "checkpoint <img src=x onerror=alert(1)>.ckpt is corrupt or truncated",
    ),
    "a pickle named .onnx": ("model.onnx", _malicious_export, "model.onnx: cannot import a .onnx file; accepted"),
    "an entity-expansion bomb in an IR .xml": (
        "laughs.xml",
        lambda p, _: p.write_bytes(BILLION_LAUGHS),
        "OpenVINO IR laughs.xml is refused: it declares <!DOCTYPE, which no OpenVINO IR holds",
    ),
    "an external entity in an IR .xml": (
        "xxe.xml",
        lambda p, _: p.write_bytes(EXTERNAL_ENTITY),
        "OpenVINO IR xxe.xml is refused: it declares <!DOCTYPE",
    ),
    "an entity declared after a megabyte of comment in an IR .xml": (
        "late.xml",
        lambda p, _: p.write_bytes(b'<?xml version="1.0"?><!--' + b"x" * (1 << 20) + b"-->" + BILLION_LAUGHS[21:]),
        "OpenVINO IR late.xml is refused: it declares <!DOCTYPE",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_model_file_is_refused_runs_no_code_and_leaves_the_registry_unchanged(
    settings: Settings, tmp_path: Path, case: str
) -> None:
    name, write, message = HOSTILE[case]
    marker = tmp_path / "pwned"
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    write(uploads / name, marker)
    with pytest.raises(ModelImportError, match=re.escape(message)):
        import_run(
            ImportRequest(file=uploads / name, category="pcb"), settings, progress=lambda _: None, user=local_user()
        )
    assert not marker.exists(), f"{case}: the payload ran"
    assert list_runs(settings) == []
    assert [p for p in settings.registry_dir.rglob("*") if p.is_file()] == [], "no file is left in the registry"
    assert sorted(p.name for p in uploads.iterdir()) == [name], "the imported file is neither moved nor copied"


@pytest.mark.parametrize("category", ["../../etc", "<script>alert(1)</script>", "pcb\nconnector", ""])
def test_a_hostile_product_name_is_refused_before_the_file_is_read(
    settings: Settings, tmp_path: Path, category: str
) -> None:
    marker = tmp_path / "pwned"
    _malicious_ckpt(tmp_path / "evil.ckpt", marker)
    with pytest.raises(ValueError, match=re.escape(f"unsafe category name {category!r}")):
        import_run(
            ImportRequest(file=tmp_path / "evil.ckpt", category=category),
            settings,
            progress=lambda _: None,
            user=local_user(),
        )
    assert not marker.exists()
    assert not settings.registry_dir.exists()


def test_an_operator_may_not_import_and_the_file_is_never_read(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _malicious_export(tmp_path / "evil.pt", marker)
    operator = ActingUser("olga", Role.OPERATOR, signed_in=True)
    request = ImportRequest(file=tmp_path / "evil.pt", category="pcb", trust=True)
    with pytest.raises(AccessDeniedError, match=r"^olga \(operator\) may not import models or datasets"):
        import_run(request, settings, progress=lambda _: None, user=operator)
    assert not marker.exists()
    assert not settings.registry_dir.exists()
