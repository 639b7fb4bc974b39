"""The results table in the reference study's shape (ours with averages, then the labelled reference rows), as CSV."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from components.shared.sidebar import Selection
from components.shared.style import model_label
from services.registry.report import (
    AVERAGE,
    COLUMNS,
    NOT_REPORTED,
    TableRow,
    reference_rows,
    results_rows,
    to_csv,
    unavailable_notes,
)
from services.registry.runs import NOT_AVAILABLE


def _value(value: float | None) -> float:
    return math.nan if value is None else value


def _frame(rows: list[TableRow], with_source: bool) -> pd.DataFrame:
    """One line per row; metric columns that no row reports (all ``None``) are left out."""
    reported = [(key, title) for key, title in COLUMNS if any(row.values.get(key) is not None for row in rows)]
    return pd.DataFrame(
        [
            {
                **({"Source": row.source} if with_source else {}),
                "Model": model_label(row.model),
                "Category": row.category,
                **{title: _value(row.values.get(key)) for key, title in reported},
            }
            for row in rows
        ]
    )


def _styled(frame: pd.DataFrame, missing: str) -> Styler:
    """Three decimals, ``missing`` where a figure is absent, average rows in bold."""
    return frame.style.format(precision=3, na_rep=missing).apply(
        lambda row: ["font-weight: bold" if row["Category"] == AVERAGE else "" for _ in row], axis=1
    )


def render(selection: Selection) -> None:
    """Our rows (``n/a`` where the test split cannot define a metric, with the reason under the table) and the reference
    rows for the same categories; the CSV download holds both, machine-readable."""
    categories = selection.categories
    ours = results_rows(list(selection.dataset_runs.values()), categories)
    reference = reference_rows(categories)
    st.markdown(f"**Our runs** · {ours[0].source if ours else 'none'} · F1 at the false-alarm-budget thresholds")
    st.dataframe(_styled(_frame(ours, with_source=False), NOT_AVAILABLE), hide_index=True, key="table_ours")
    notes = unavailable_notes(ours)
    if notes:
        st.caption(f"**{NOT_AVAILABLE}** (not available): " + " · ".join(notes))
    if reference:
        st.markdown("**Reference figures** · labelled with their source; all on the real MVTec-AD")
        st.dataframe(_styled(_frame(reference, with_source=True), NOT_REPORTED), hide_index=True, key="table_reference")
    st.download_button(
        "Download table (CSV)",
        to_csv(ours + reference),
        file_name=f"anomalylens_results_{selection.dataset}.csv",
        mime="text/csv",
        key="table_csv",
        icon=":material/download:",
    )
