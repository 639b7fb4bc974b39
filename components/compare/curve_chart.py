"""Image-level ROC or PR curves of one category, one line per model."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from components.shared.style import chart_config, model_colour, model_label, style_chart
from services.registry.artefacts import CurvePoints

AXES = {"roc": ("False positive rate", "True positive rate"), "pr": ("Recall", "Precision")}
TITLES = {"roc": "ROC (image level)", "pr": "Precision–recall (image level)"}


def build_figure(curves: dict[str, CurvePoints], kind: str, category: str, auc: dict[str, float]) -> go.Figure:
    """``curves`` maps model → its curve of ``kind`` (``roc`` or ``pr``); ``auc`` adds the area to each legend entry."""
    figure = go.Figure()
    if kind == "roc":
        figure.add_scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"color": "#cbd5e1", "dash": "dot"},
            hoverinfo="skip",
            showlegend=False,
        )
    for model, curve in curves.items():
        suffix = f" (AUROC {auc[model]:.3f})" if model in auc else ""
        figure.add_scatter(
            x=list(curve.x),
            y=list(curve.y),
            mode="lines",
            name=model_label(model) + suffix,
            line={"color": model_colour(model), "width": 2.5, "shape": "hv" if kind == "roc" else "linear"},
        )
    x_title, y_title = AXES[kind]
    figure.update_xaxes(title=x_title, range=[-0.02, 1.02])
    figure.update_yaxes(title=y_title, range=[-0.02, 1.05])
    return style_chart(figure, f"{TITLES[kind]} · {category}", height=340)


def render(curves: dict[str, CurvePoints], kind: str, category: str, auc: dict[str, float]) -> None:
    """Draw the chart with its PNG export."""
    st.plotly_chart(
        build_figure(curves, kind, category, auc), key=f"curve__{kind}", config=chart_config(f"{kind}_{category}")
    )
