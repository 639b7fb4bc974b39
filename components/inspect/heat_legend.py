"""The heatmap's colour scale as a legend bar, with the threshold and the REVIEW band marked on it."""

from __future__ import annotations

import numpy as np
import streamlit as st

from services.postprocessing.visualization import colorize

STOPS = 11


def _gradient() -> str:
    colours = colorize(np.linspace(0.0, 1.0, STOPS, dtype=np.float32)[None, :])[0]
    return ", ".join(f"rgb({r},{g},{b}) {100 * i / (STOPS - 1):.0f}%" for i, (r, g, b) in enumerate(colours))


def render(threshold: float, lower: float | None = None, upper: float | None = None) -> None:
    """A thin bar from 0 (normal) to 1 (anomalous) in the heatmap's colours, with a tick at ``threshold`` and the
    REVIEW band ``(lower, upper]`` outlined where it is not empty."""
    lower = threshold if lower is None else lower
    upper = threshold if upper is None else upper
    band = (
        f'<div style="position:absolute;left:{100 * lower:.1f}%;width:{100 * (upper - lower):.1f}%;top:-3px;'
        'height:16px;border:2px solid #f59e0b;border-radius:3px"></div>'
        if upper > lower
        else ""
    )
    label = f"REVIEW {lower:.2f}–{upper:.2f} · " if upper > lower else ""
    st.html(
        f"""
        <div style="font-size:0.75rem;color:#475569;margin:0.2rem 0 0.6rem 0">
          <div style="position:relative;height:12px;border-radius:3px;background:linear-gradient(to right,
               {_gradient()})">
            {band}
            <div style="position:absolute;left:calc({100 * threshold:.1f}% - 1px);top:-3px;width:2px;height:18px;
                 background:#111827"></div>
          </div>
          <div style="display:flex;justify-content:space-between;margin-top:2px">
            <span>0 · normal</span><span>{label}threshold {threshold:.2f}</span><span>1 · anomalous</span>
          </div>
        </div>
        """
    )
