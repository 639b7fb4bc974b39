"""The numbered defect regions as a list and a picker: the same choice a click on the image makes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services.postprocessing.regions import DefectRegion


def region_key(model: str, image_digest: str) -> str:
    """Session-state key of the picked region id for ``model`` on one image."""
    return f"region__{model}__{image_digest[:12]}"


def picked(regions: tuple[DefectRegion, ...], key: str) -> DefectRegion | None:
    """The region picked under ``key`` if it still exists at the current threshold (else the pick is cleared)."""
    by_id = {region.id: region for region in regions}
    chosen = st.session_state.get(key)
    if chosen is not None and chosen not in by_id:
        st.session_state[key] = None
        return None
    return by_id.get(chosen)


def render(regions: tuple[DefectRegion, ...], key: str) -> None:
    """The picker (writes ``st.session_state[key]``) and a compact table of the regions."""
    if not regions:
        st.caption("No defect region above the threshold.")
        return
    labels = {
        region.id: f"Defect {region.id} · max {region.max_score:.2f} · {region.area_pct:.1f} %" for region in regions
    }
    st.selectbox(
        "Defect",
        list(labels),
        format_func=labels.__getitem__,
        index=None,
        key=key,
        placeholder="Click a defect on the image, or pick one here",
        label_visibility="collapsed",
    )
    table = pd.DataFrame(
        {
            "#": [region.id for region in regions],
            "Max score": [round(region.max_score, 3) for region in regions],
            "Mean score": [round(region.mean_score, 3) for region in regions],
            "Area (%)": [round(region.area_pct, 2) for region in regions],
            "Box (x, y, w, h)": [", ".join(map(str, region.bbox)) for region in regions],
        }
    )
    with st.expander(f"{len(regions)} defect region{'s' if len(regions) != 1 else ''}", expanded=False):
        st.dataframe(table, hide_index=True, height=min(36 * (len(regions) + 1) + 2, 230))
