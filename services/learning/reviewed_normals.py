"""False-alarm images kept as extra normal images for the next training (``train --include-reviewed``).

A model that cannot learn a false alarm without retraining (EfficientAd) learns it at its next training: the images
reviews marked false alarm for the product are copied from the records' image store into the data root
(``<data root>/_reviewed/<category>/<sha256>.<suffix>``, the suffix of the format the bytes hold) and join the
protocol's training normals (:func:`services.data.protocol.build_protocol_for`), counted in ``metrics.json`` as
``protocol.n_reviewed_normals``. A retrained PatchCore gets them too, so it keeps what its versions learned.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from services.data.categories import check_category_name
from services.data.images import SUFFIX_FORMATS, load_image
from services.records.image_store import ImageStore
from services.records.review import false_alarm_images
from services.records.store import RecordStore
from services.settings import Settings

REVIEWED = "_reviewed"


class ReviewedNormalsError(ValueError):
    """Reviewed images that cannot be used as training normals; the message says which and why."""


def reviewed_normals(settings: Settings, category: str) -> list[str]:
    """The sha256s of the images of ``category`` that reviews marked false alarm (standing decisions only)."""
    store = RecordStore(settings)
    try:
        return false_alarm_images(store, category)
    finally:
        store.close()


def _suffix(image_format: str) -> str:
    """The first suffix that names ``image_format`` (``.png``, ``.jpg``, ``.bmp``, ``.tif``)."""
    return next(suffix for suffix, fmt in SUFFIX_FORMATS.items() if fmt == image_format)


def reviewed_normal_files(settings: Settings, category: str, image_sha256s: Sequence[str]) -> list[Path]:
    """Each image (once, in order) copied from the records' image store into ``<data root>/_reviewed/<category>/``,
    checked by the image decoder first; a missing or unreadable image is refused naming it."""
    check_category_name(category)
    store = ImageStore(settings.records_dir)
    folder = settings.data_root / REVIEWED / category
    files = []
    for sha256 in dict.fromkeys(image_sha256s):
        source = store.path(sha256)
        if not source.is_file():
            raise ReviewedNormalsError(f"reviewed image {sha256} is not in the records' image store ({store.root})")
        loaded = load_image(source, name=f"reviewed image {sha256}", max_pixels=settings.max_image_pixels)
        target = folder / f"{sha256}{_suffix(loaded.source_format)}"
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(prefix=".partial-", dir=folder)
            with os.fdopen(handle, "wb") as file:
                file.write(source.read_bytes())
            os.replace(partial, target)
        files.append(target)
    return files
