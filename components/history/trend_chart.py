"""The NG rate and the REVIEW count per hour or day (plotly): NG among inspected parts of the product, foreign
parts left out."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from components.shared.style import DEFECT_COLOUR, chart_config, style_chart
from services.records.history import DAY, HOUR, TrendBucket

REVIEW_COLOUR = "#f59e0b"


def build_figure(buckets: list[TrendBucket]) -> go.Figure:
    """NG rate (%) as a line on the left axis, REVIEW count as bars on the right, one point per bucket; the time axis
    spans half a bucket either side (a single bucket would otherwise be zoomed to fractions of a millisecond), the
    count axis whole numbers."""
    hourly = len(buckets) > 1 and buckets[1].start - buckets[0].start == HOUR
    unit = "hour" if hourly or len(buckets) == 1 else "day"
    size = HOUR if unit == "hour" else DAY
    times = [bucket.start for bucket in buckets]
    most_review = max(bucket.review for bucket in buckets)
    figure = go.Figure()
    figure.add_bar(
        x=times,
        y=[bucket.review for bucket in buckets],
        name="REVIEW (count)",
        marker_color=REVIEW_COLOUR,
        opacity=0.6,
        yaxis="y2",
        hovertemplate="%{y} REVIEW<extra></extra>",
    )
    figure.add_scatter(
        x=times,
        y=[None if bucket.ng_rate is None else 100 * bucket.ng_rate for bucket in buckets],
        customdata=[[bucket.ng, bucket.inspected, bucket.foreign] for bucket in buckets],
        name="NG rate (%)",
        mode="lines+markers",
        line={"color": DEFECT_COLOUR},
        connectgaps=False,
        hovertemplate="NG %{y:.1f} % (%{customdata[0]} of %{customdata[1]}; %{customdata[2]} not this product)"
        "<extra></extra>",
    )
    figure.update_layout(
        yaxis={"title": "NG rate (%)", "rangemode": "tozero"},
        yaxis2={
            "title": "REVIEW",
            "overlaying": "y",
            "side": "right",
            "range": [0, max(1, most_review) * 1.1],
            "dtick": max(1, math.ceil(most_review / 5)),
            "showgrid": False,
        },
        xaxis={"title": f"per {unit} (UTC)", "range": [times[0] - size / 2, times[-1] + size / 2]},
        hovermode="x unified",
    )
    return style_chart(figure, f"NG rate and REVIEW count per {unit}")


def render(buckets: list[TrendBucket]) -> None:
    """The chart, or a note when nothing matches."""
    if not buckets:
        st.caption("No record matches: nothing to chart.")
        return
    st.plotly_chart(build_figure(buckets), key="history_trend", config=chart_config("anomalylens_ng_rate"))
