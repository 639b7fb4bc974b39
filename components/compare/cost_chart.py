"""What each run cost: training time, inference time per image and peak memory, per category and model."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components.shared.sidebar import Selection
from components.shared.style import chart_config, model_colour, model_label, style_chart

TIMINGS = (
    ("fit_s", "Training (s)"),
    ("test_ms_per_image", "Inference (ms / image)"),
    ("peak_rss_mb", "Peak memory (MB)"),
)


def build_figure(selection: Selection) -> go.Figure:
    """Three panels of grouped bars from each run's recorded timings."""
    runs = selection.dataset_runs
    figure = make_subplots(
        rows=1, cols=len(TIMINGS), subplot_titles=[title for _, title in TIMINGS], horizontal_spacing=0.08
    )
    categories = list(selection.categories)
    for column, (key, title) in enumerate(TIMINGS, start=1):
        for model in selection.models:
            values = [runs[(model, c)].record.timings.get(key) if (model, c) in runs else None for c in categories]
            figure.add_bar(
                x=categories,
                y=values,
                name=model_label(model),
                legendgroup=model,
                showlegend=column == 1,
                marker={"color": model_colour(model)},
                hovertemplate=f"%{{x}}: %{{y:,.1f}}<extra>{model_label(model)} · {title}</extra>",
                row=1,
                col=column,
            )
    figure.update_layout(barmode="group", bargap=0.3)
    return style_chart(figure, "Cost per run (from metrics.json)", height=340, legend_y=1.12)


def render(selection: Selection) -> None:
    """Draw the chart with its PNG export."""
    st.plotly_chart(build_figure(selection), key="cost_chart", config=chart_config("cost_per_run"))
