"""Scores of good and defective test images per model, with the threshold line."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components.shared.style import (
    DEFECT_COLOUR,
    NORMAL_COLOUR,
    THRESHOLD_COLOUR,
    chart_config,
    model_colour,
    model_label,
    style_chart,
)
from services.registry.artefacts import ScoredImage

BINS = 20


def build_figure(scores: dict[str, list[ScoredImage]], threshold: float, category: str) -> go.Figure:
    """One panel per model: overlaid histograms of good and defective test images' normalised scores."""
    models = list(scores)
    figure = make_subplots(
        rows=1,
        cols=len(models),
        subplot_titles=[model_label(m) for m in models],
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    for column, model in enumerate(models, start=1):
        for is_anomalous, name, colour in ((False, "good", NORMAL_COLOUR), (True, "defective", DEFECT_COLOUR)):
            values = [image.score for image in scores[model] if image.is_anomalous == is_anomalous]
            figure.add_histogram(
                x=values,
                name=name,
                legendgroup=name,
                showlegend=column == 1,
                marker={"color": colour},
                opacity=0.65,
                xbins={"start": 0.0, "end": 1.0, "size": 1.0 / BINS},
                hovertemplate=f"{name}: %{{y}} images at %{{x}}<extra></extra>",
                row=1,
                col=column,
            )
        figure.add_vline(x=threshold, line={"color": THRESHOLD_COLOUR, "dash": "dash", "width": 1.5}, row=1, col=column)
        figure.update_xaxes(range=[0, 1], title="normalised score", row=1, col=column)
    for annotation, model in zip(figure.layout.annotations, models, strict=True):
        annotation.font = {"color": model_colour(model), "size": 13}
    figure.add_annotation(
        text=f"threshold {threshold:.2f}",
        x=threshold,
        xref="x",
        y=1,
        yref="paper",
        showarrow=False,
        xanchor="left",
        yanchor="top",
        font={"size": 11, "color": THRESHOLD_COLOUR},
    )
    figure.update_layout(barmode="overlay")
    figure.update_yaxes(title="images", row=1, col=1)
    return style_chart(figure, f"Score distribution of test images · {category}", height=340, legend_y=1.1)


def render(scores: dict[str, list[ScoredImage]], threshold: float, category: str) -> None:
    """Draw the chart with its PNG export."""
    st.plotly_chart(
        build_figure(scores, threshold, category), key="score_distribution", config=chart_config(f"scores_{category}")
    )
