"""One metric per category and model as grouped bars: our runs beside the reference study's figures."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from components.shared.sidebar import Selection
from components.shared.style import chart_config, model_colour, model_label, style_chart
from services.modeling.model_table import MODEL_NAMES
from services.registry.reference import METRIC_KEYS, REFERENCE_STUDY
from services.registry.report import AVERAGE, COLUMNS, TableRow, reference_rows, results_rows, unavailable_notes
from services.registry.runs import NOT_AVAILABLE


def _shown(value: float | None) -> float | None:
    """A bar's height; no bar where the value is not reported or not available."""
    return None if value is None or math.isnan(value) else value


def build_figure(ours: list[TableRow], reference: list[TableRow], key: str, title: str) -> go.Figure:
    """Bars per category (and the average): each model solid for ours, hatched for the reference study; no bar where a
    value is not available."""
    figure = go.Figure()
    categories = list(dict.fromkeys(row.category for row in ours))
    for model in [model for model in MODEL_NAMES if any(row.model == model for row in ours)]:
        for rows, hatched, label in ((ours, False, "ours"), (reference, True, "reference study")):
            values = {row.category: _shown(row.values.get(key)) for row in rows if row.model == model}
            if not any(values.get(category) is not None for category in categories):
                continue
            figure.add_bar(
                x=categories,
                y=[values.get(category) for category in categories],
                name=f"{model_label(model)} · {label}",
                marker={
                    "color": model_colour(model),
                    "opacity": 0.55 if hatched else 1.0,
                    "pattern": {"shape": "/" if hatched else ""},
                },
                hovertemplate="%{x}: %{y:.3f}<extra>%{fullData.name}</extra>",
            )
    figure.update_yaxes(range=[0, 1.05], title=None)
    figure.update_xaxes(categoryorder="array", categoryarray=[c for c in categories if c != AVERAGE] + [AVERAGE])
    figure.update_layout(barmode="group", bargap=0.25)
    return style_chart(figure, title, height=330)


def render(selection: Selection) -> None:
    """One chart per reference metric (Image/Pixel AUROC and F1), two per row, each with its PNG export; a caption
    says which values are not available and why."""
    categories = selection.categories
    ours = results_rows(list(selection.dataset_runs.values()), categories)
    study = [row for row in reference_rows(categories) if row.source == REFERENCE_STUDY]
    titles = dict(COLUMNS)
    for start in range(0, len(METRIC_KEYS), 2):
        for column, key in zip(st.columns(2), METRIC_KEYS[start : start + 2], strict=False):
            with column:
                st.plotly_chart(
                    build_figure(ours, study, key, titles[key]), key=f"bars__{key}", config=chart_config(f"bars_{key}")
                )
    notes = unavailable_notes(ours)
    if notes:
        st.caption(f"No bar where a value is **{NOT_AVAILABLE}** (not available): " + " · ".join(notes))
