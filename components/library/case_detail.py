"""One stored case of the library: its drawing, what it is, and its nearest anomalous neighbours."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components.library.case_gallery import GalleryEntry
from components.shared import neighbour_panel
from components.shared.style import html_text, model_heading, plain_text


def render(entry: GalleryEntry) -> None:
    """The case (heatmap and image crops side by side), its facts, then its neighbours from other images."""
    payload = entry.item.payload
    thumbnail = entry.library.thumbnail(payload)
    st.markdown(
        f"{model_heading(payload.model)} · <b>{html_text(payload.defect_type)}</b> · {html_text(payload.category)}",
        unsafe_allow_html=True,
    )
    heat, image = st.columns(2)
    heat.image(thumbnail.heatmap, caption="heatmap", width="stretch")
    image.image(thumbnail.image, caption="image", width="stretch")
    path = Path(payload.image_path)
    where = plain_text(f"{path.parent.name}/{path.name}")
    st.caption(f"Region {payload.region_id} of {where} · max score {payload.score:.2f}")
    neighbour_panel.render(
        entry.library.run,
        lambda library: library.similar_to_case(payload),
        cache_key=(entry.item.id, str(entry.library.run.path)),
        columns=3,
    )
