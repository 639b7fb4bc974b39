"""Display names, colours and chart styling: every page and chart takes them from here (models' from the table).

Text that comes from users or their files (file and folder names, error messages naming them) goes through
:func:`plain_text` before Streamlit's Markdown, or :func:`html_text` before HTML, so it shows as typed, never as markup.
"""

from __future__ import annotations

import html
import re

import plotly.graph_objects as go

from services.data.errors import printable
from services.modeling.model_table import MODEL_TABLE

DATASET_LABELS = {"synthetic": "synthetic", "mvtec_ad": "MVTec-AD"}
MARKUP = re.compile(
    r"[\\*`~$\[\]<>&|#]"  # emphasis, code, strikethrough, LaTeX, links and directives, HTML, entities, tables
    r"|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"  # an underscore that can open or close emphasis (not inside a word)
    r"|:(?=[\w+/-]+:)"  # an emoji or icon shortcode (:smile:, :material/home:)
    r"|:(?=//)|(?<=www)\."  # a bare web address, which GitHub-flavoured Markdown turns into a link
)
"""What Streamlit's Markdown reads as markup; ordinary words, paths and sentences have none of it."""
LINE_START = re.compile(r"^( *(?:\d{1,9})?)([-+=.)])")
"""A bullet, a heading underline or a numbered item (``1.``) at the start: its mark is escaped."""
NORMAL_COLOUR = "#64748b"
DEFECT_COLOUR = "#dc2626"
THRESHOLD_COLOUR = "#111827"
HIGHLIGHT_COLOUR = "#facc15"


def model_label(model: str) -> str:
    """Display name of a model (``patchcore`` → ``PatchCore``); an unknown name as it is."""
    spec = MODEL_TABLE.get(model)
    return spec.label if spec else model


def model_colour(model: str) -> str:
    """The model's colour in every chart and heading; neutral grey for an unknown name."""
    spec = MODEL_TABLE.get(model)
    return spec.colour if spec else NORMAL_COLOUR


def model_rgb(model: str) -> tuple[int, int, int]:
    """The model's colour as an RGB triple (for drawing into images)."""
    colour = model_colour(model).lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def dataset_label(dataset: str) -> str:
    """Display name of a dataset (``mvtec_ad`` → ``MVTec-AD``)."""
    return DATASET_LABELS.get(dataset, dataset)


def plain_text(text: str) -> str:
    """``text`` for Streamlit's Markdown (``st.markdown``, ``st.error``, captions, labels): shown as typed, one line."""
    escaped = MARKUP.sub(lambda found: "\\" + found.group(0), printable(text))
    return LINE_START.sub(r"\1\\\2", escaped)


def html_text(text: str) -> str:
    """``text`` for HTML (``unsafe_allow_html``): shown as typed, one line."""
    return html.escape(printable(text))


def model_heading(model: str) -> str:
    """HTML for a model name in its colour (for ``st.markdown(..., unsafe_allow_html=True)``)."""
    return f"<span style='color:{model_colour(model)};font-weight:700'>{model_label(model)}</span>"


def chart_config(filename: str) -> dict[str, object]:
    """Plotly options of every chart: PNG export from the modebar, named after the chart; no logo."""
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        "modeBarButtonsToRemove": ["lasso2d", "select2d"],
    }


def style_chart(figure: go.Figure, title: str, height: int = 320, legend_y: float = 1.02) -> go.Figure:
    """The common layout: the title on the first line, the legend (horizontal) on the lines under it, then the plot.

    ``legend_y`` (paper units) lifts the legend above subplot titles when a figure has them.
    """
    figure.update_layout(
        title={
            "text": title,
            "x": 0,
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 8},
            "font": {"size": 14},
        },
        height=height,
        margin={"l": 48, "r": 16, "t": 100, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": legend_y, "xanchor": "left", "x": 0, "title": None},
        template="plotly_white",
    )
    return figure
