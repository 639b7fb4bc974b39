"""A registry run in one glance: model, dataset, backbone, image size, when it was trained."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from components.shared.style import dataset_label, model_heading
from services.modeling.model_table import MODEL_TABLE
from services.registry.runs import Run, RunMetrics


def backbone_text(record: RunMetrics) -> str:
    """The pretrained part a run stands on: its backbone, or for a model trained against a teacher (EfficientAd) the
    network size and the teacher."""
    config = record.config
    spec = MODEL_TABLE.get(record.model)
    if spec and spec.uses_teacher:
        teacher = config.get("teacher")
        kind = teacher.get("kind", "?") if isinstance(teacher, dict) else teacher
        return f"PDN-{str(config.get('model_size', '?'))[:1].upper()}, {kind} teacher"
    return str(config.get("backbone", "?"))


def trained_text(record: RunMetrics) -> str:
    """``created_at`` as ``YYYY-MM-DD HH:MM UTC``."""
    try:
        return datetime.fromisoformat(record.created_at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return record.created_at


def render_run_card(run: Run) -> None:
    """A bordered card naming the run and what it was trained on."""
    record = run.record
    with st.container(border=True):
        st.markdown(f"{model_heading(record.model)} · {dataset_label(record.dataset)}", unsafe_allow_html=True)
        st.caption(
            f"{backbone_text(record)} · {record.config.get('image_size', '?')} px  \ntrained {trained_text(record)}",
            help=f"Run `{record.run}` in `{run.path}`",
        )
