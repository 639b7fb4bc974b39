"""How to add runs to the registry: the command-line calls, ready to copy."""

from __future__ import annotations

import streamlit as st

from services.modeling.model_table import MODEL_NAMES, PATCHCORE
from services.settings import get_settings

COMMANDS = (
    (
        "Build the demo registry (synthetic data, every model, all categories, the Qdrant index)",
        "python -m services.cli demo",
    ),
    (
        "Train and evaluate on the synthetic dataset (choose models, categories, profile)",
        f"python -m services.cli benchmark --dataset synthetic --models {' '.join(MODEL_NAMES)} "
        "--categories tile leather grid --profile demo",
    ),
    (
        "Train on the real MVTec-AD (standard layout under one folder)",
        "python -m services.cli benchmark --dataset mvtec_ad --root /path/to/mvtec_anomaly_detection --profile full",
    ),
    (
        "Another PatchCore backbone",
        f"python -m services.cli benchmark --models {PATCHCORE.name} --backbone tf_efficientnet_lite1",
    ),
    ("Index the newest runs for similar-defect search", "python -m services.cli index --dataset synthetic"),
    ("Write the results table (Markdown + CSV)", "python -m services.cli report --dataset synthetic"),
)


def render() -> None:
    """Each command with what it does; the registry folder it writes to."""
    st.subheader("Train or add a run")
    st.page_link(
        "pages/train.py", label="Train a product in the background from the Train page", icon=":material/rocket_launch:"
    )
    columns = st.columns(2, gap="medium")
    for index, (text, command) in enumerate(COMMANDS):
        with columns[index % 2]:
            st.markdown(text)
            st.code(command, language="bash", wrap_lines=True)
    st.caption(
        f"Runs are written to `{get_settings().registry_dir}` (`ANOMALYLENS_REGISTRY`); a new run appears here after a "
        "page reload. `python -m services.cli <command> --help` lists every option."
    )
