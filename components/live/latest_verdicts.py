"""The newest watched files as cards: thumbnail, name, part and lot, time, and each model's verdict and score."""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from components.shared import resources
from components.shared.style import model_label, plain_text
from services.data.images import ImageInputError, load_image
from services.postprocessing.verdict import Verdict
from services.settings import get_settings
from services.watch.latest import WatchedFile

THUMBNAIL_PX = 160
COLUMNS = 4
BADGES = {Verdict.OK: "green", Verdict.NG: "red", Verdict.REVIEW: "orange"}


@st.cache_data(max_entries=256, show_spinner=False)
def _thumbnail(sha256: str, records_dir: str) -> np.ndarray | None:
    """The kept image, decoded by the one decoder and shrunk to :data:`THUMBNAIL_PX`; ``None`` where it was not kept."""
    try:
        data = resources.record_store().images.read(sha256)
        image = load_image(data, name=sha256, max_pixels=get_settings().max_image_pixels)
    except (OSError, ImageInputError):
        return None
    thumbnail = Image.fromarray(image.rgb)
    thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    return np.asarray(thumbnail)


def verdict_line(file: WatchedFile) -> str:
    """``PatchCore :green-badge[OK] 0.231 · EfficientAd :red-badge[NG] 0.812``, "not this product" where the gate
    says so."""
    parts = []
    for model, record in file.records.items():
        foreign = " (not this product)" if record.foreign_part else ""
        parts.append(
            f"{model_label(model)} :{BADGES[record.verdict]}-badge[{record.verdict.value}] {record.score:.3f}{foreign}"
        )
    return " · ".join(parts)


def render(files: list[WatchedFile]) -> None:
    """A grid of the newest files, newest first; a note where the watcher recorded none yet."""
    if not files:
        st.info("No file recorded by the watcher for this product yet.", icon=":material/hourglass_empty:")
        return
    records_dir = str(get_settings().records_dir)
    for start in range(0, len(files), COLUMNS):
        for column, file in zip(st.columns(COLUMNS), files[start : start + COLUMNS], strict=False):
            with column.container(border=True):
                thumbnail = _thumbnail(file.image_sha256, records_dir)
                if thumbnail is None:
                    st.caption("image not kept")
                else:
                    st.image(thumbnail)
                ids = " / ".join(value for value in (file.part_id, file.lot_id) if value)
                st.markdown(f"**{plain_text(file.image_name)}**")
                st.caption(f"{file.recorded_at:%H:%M:%S} UTC" + (f" · {plain_text(ids)}" if ids else ""))
                st.markdown(verdict_line(file))
