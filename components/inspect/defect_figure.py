"""The image under its heatmap with the predicted-mask contours and numbered defects; click a defect to pick it.

The picture is a plotly ``go.Image`` in the image's own pixel coordinates (``x`` = column, ``y`` = row, as
:mod:`services.postprocessing.regions` uses). Over it lie one invisible marker every few pixels on each region's
pixels and one numbered marker at each centroid, all carrying the region id as ``customdata``: a click anywhere on
a defect selects the nearest of its markers, and ``st.plotly_chart(on_select=...)`` hands that id to the region
picker.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from functools import partial

import cv2
import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from components.shared.style import HIGHLIGHT_COLOUR
from services.inference.detector import Prediction
from services.postprocessing.regions import DefectRegion, region_mask
from services.postprocessing.visualization import draw_contours, overlay

DISPLAY_PX = 560
"""Longest side the picture is drawn at (small images are upscaled so contours stay thin, large ones reduced)."""
HIT_GRID = 80
"""At most this many hit markers across a region's image side."""
MAX_HIT_MARKERS = 1000
"""About the most hit markers a figure carries: each is a node the browser draws again on every rerun, and a
threshold lowered until the whole image is one region would otherwise put thousands on it."""
HOVER_DISTANCE_PX = 20
"""Plotly's default distance (display pixels) within which a click picks the nearest marker."""
FIGURE_HEIGHT = 410


def chart_key(model: str, image_digest: str) -> str:
    """The key of the figure of ``model`` on one image (a browser test finds it as ``.st-key-<key>``)."""
    return f"defect_figure__{model}__{image_digest[:12]}"


def _picture(rgb: np.ndarray, prediction: Prediction, opacity: float) -> tuple[str, float]:
    """JPEG data URI of overlay + contours at display size, and the display pixels per image pixel."""
    height, width = rgb.shape[:2]
    scale = DISPLAY_PX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_LINEAR if scale >= 1 else cv2.INTER_AREA
    shown = draw_contours(
        overlay(cv2.resize(rgb, size, interpolation=interpolation), prediction.anomaly_map, opacity), prediction.mask
    )
    buffer = io.BytesIO()
    Image.fromarray(shown).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode(), size[0] / width


def _region_pixels(region: DefectRegion, shape: tuple[int, int], stride: int) -> np.ndarray:
    """``(n, 2)`` ``(x, y)`` pixels of the region's filled outline on a grid of ``stride``."""
    grid = np.zeros(shape, bool)
    grid[::stride, ::stride] = True
    rows, cols = np.nonzero(region_mask(region, *shape) & grid)
    return np.stack([cols, rows], axis=1)


def hit_stride(regions: Sequence[DefectRegion], height: int, width: int) -> int:
    """Grid step (image pixels) of the hit markers: ``HIT_GRID`` across the image's long side, coarser where the
    regions' boxes together would carry more than ``MAX_HIT_MARKERS``."""
    boxes = sum(region.bbox[2] * region.bbox[3] for region in regions)
    return max(1, math.ceil(max(height, width) / HIT_GRID), math.ceil(math.sqrt(boxes / MAX_HIT_MARKERS)))


def _hover(region: DefectRegion) -> str:
    return f"Defect {region.id} · max {region.max_score:.2f} · {region.area_pct:.1f} % of the image"


def build_figure(
    rgb: np.ndarray, prediction: Prediction, opacity: float, selected: DefectRegion | None = None
) -> go.Figure:
    """The figure; ``prediction`` is already judged at the threshold to draw (mask, regions)."""
    height, width = rgb.shape[:2]
    source, scale = _picture(rgb, prediction, opacity)
    figure = go.Figure(
        go.Image(
            source=source, x0=0.5 / scale - 0.5, dx=1 / scale, y0=0.5 / scale - 0.5, dy=1 / scale, hoverinfo="skip"
        )
    )
    stride = hit_stride(prediction.regions, height, width)
    hits = [(xy, region) for region in prediction.regions for xy in _region_pixels(region, (height, width), stride)]
    if hits:
        figure.add_scatter(
            x=[float(xy[0]) for xy, _ in hits],
            y=[float(xy[1]) for xy, _ in hits],
            customdata=[region.id for _, region in hits],
            hovertext=[_hover(region) for _, region in hits],
            mode="markers",
            marker={"size": 6, "opacity": 0},
            selected={"marker": {"opacity": 0}},
            unselected={"marker": {"opacity": 0}},
            hoverinfo="text",
            name="defect pixels",
        )
    if selected is not None:
        outline = [*selected.contour, selected.contour[0]]
        figure.add_scatter(
            x=[x for x, _ in outline],
            y=[y for _, y in outline],
            mode="lines",
            hoverinfo="skip",
            line={"color": HIGHLIGHT_COLOUR, "width": 3},
            name="selected defect",
        )
    if prediction.regions:
        figure.add_scatter(
            x=[region.centroid[0] for region in prediction.regions],
            y=[region.centroid[1] for region in prediction.regions],
            customdata=[region.id for region in prediction.regions],
            hovertext=[_hover(region) for region in prediction.regions],
            text=[str(region.id) for region in prediction.regions],
            mode="markers+text",
            textfont={"size": 11, "color": "#111827"},
            marker={"size": 20, "color": "white", "line": {"color": "#111827", "width": 1.5}},
            selected={"marker": {"opacity": 1}},
            unselected={"marker": {"opacity": 1}},
            hoverinfo="text",
            name="defect numbers",
        )
    figure.update_xaxes(visible=False, range=[-0.5, width - 0.5])
    figure.update_yaxes(visible=False, range=[height - 0.5, -0.5], scaleanchor="x", constrain="domain")
    figure.update_layout(
        height=FIGURE_HEIGHT,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        dragmode=False,
        hovermode="closest",
        hoverdistance=max(HOVER_DISTANCE_PX, math.ceil(0.75 * stride * scale)),
        plot_bgcolor="white",
    )
    return figure


def _pick_clicked_region(figure_key: str, region_key: str) -> None:
    """``on_select`` callback: the clicked marker's region becomes the region picker's value."""
    points = st.session_state[figure_key].selection.points
    if points:
        customdata = points[0].get("customdata")
        region_id = customdata[0] if isinstance(customdata, list) else customdata
        if region_id is not None:
            st.session_state[region_key] = int(region_id)


def render(
    rgb: np.ndarray,
    prediction: Prediction,
    opacity: float,
    *,
    figure_key: str,
    region_key: str,
    selected: DefectRegion | None,
) -> None:
    """Draw the figure; a click on a defect sets ``st.session_state[region_key]`` to its id."""
    st.plotly_chart(
        build_figure(rgb, prediction, opacity, selected),
        key=figure_key,
        on_select=partial(_pick_clicked_region, figure_key, region_key),
        selection_mode="points",
        config={"displayModeBar": False, "scrollZoom": False, "doubleClick": False},
    )
