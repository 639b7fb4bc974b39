"""Compare: both models per category against the reference study, with curves, score distributions and costs."""

from __future__ import annotations

import streamlit as st

from components.compare import cost_chart, metric_bars, metrics_table, run_charts
from components.shared import app_shell, page_access, sidebar
from components.shared.style import dataset_label

app_shell.ensure_app()
page_access.require("compare")

selection = sidebar.current()
st.title("Compare")
st.caption(
    f"Newest run per model and category on the **{dataset_label(selection.dataset)}** dataset. Reference figures "
    "come from the real MVTec-AD and are labelled as such; F1 uses each run's false-alarm-budget thresholds (fitted "
    "on normal images only), F1Max the oracle one."
)
table_tab, metrics_tab, curves_tab, cost_tab = st.tabs(
    ["Results table", "Metrics by category", f"Curves & scores · {selection.category}", "Cost"]
)

with table_tab:
    metrics_table.render(selection)
with metrics_tab:
    metric_bars.render(selection)
with curves_tab:
    category_runs = {
        model: run for (model, category), run in selection.dataset_runs.items() if category == selection.category
    }
    run_charts.render(category_runs, selection.category)
with cost_tab:
    cost_chart.render(selection)
