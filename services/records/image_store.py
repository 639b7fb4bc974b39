"""Inspected images kept content-addressed: ``<records>/images/<aa>/<sha256>`` holds the original bytes once."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

IMAGES = "images"


class ImageStore:
    """The original bytes of every recorded image, named by their sha256 (so stored once however often inspected)."""

    def __init__(self, records_dir: Path) -> None:
        self.root = records_dir / IMAGES

    def path(self, sha256: str) -> Path:
        """Where the image with this digest lives (or would live)."""
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Keep ``data`` unless already kept; returns its sha256. Written to a temporary file and renamed into place,
        so a reader never sees part of an image; raises ``OSError`` where the folder cannot be written."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=".partial-", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return digest

    def read(self, sha256: str) -> bytes:
        """The kept bytes of an image (raises ``FileNotFoundError`` for an unknown digest)."""
        return self.path(sha256).read_bytes()
