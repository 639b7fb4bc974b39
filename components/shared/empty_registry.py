"""First start: the registry holds no run yet, so explain how to build one."""

from __future__ import annotations

import streamlit as st

from services.settings import get_settings


def render() -> None:
    """What to run to get a registry, and where the app looks for it."""
    settings = get_settings()
    st.title("AnomalyLens")
    st.info(
        f"The model registry at `{settings.registry_dir}` holds no trained run yet, so there is nothing to inspect.",
        icon=":material/inventory_2:",
    )
    st.markdown(
        "**Build the demo registry** (synthetic tile, leather and grid images; PatchCore and EfficientAd per "
        "category; the similar-defect index). `make run` does this on first start; on its own:"
    )
    st.code("python -m services.cli demo", language="bash")
    st.markdown("**Or train on the real MVTec-AD** (standard layout under one folder):")
    st.code(
        "python -m services.cli benchmark --dataset mvtec_ad --root /path/to/mvtec_anomaly_detection",
        language="bash",
    )
    st.caption(
        "Then reload this page. The registry folder is `ANOMALYLENS_REGISTRY`; datasets live under "
        f"`ANOMALYLENS_DATA_ROOT` (now `{settings.data_root}`)."
    )
