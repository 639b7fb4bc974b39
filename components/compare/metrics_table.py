"""The results table in the reference study's shape (ours with averages, then the labelled reference rows), as CSV."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from components.shared.sidebar import Selection
from components.shared.style import model_label
from services.registry.report import AVERAGE, COLUMNS, TableRow, reference_rows, results_rows, to_csv


def _value(value: float | None) -> float:
    return math.nan if value is None else value


def _frame(rows: list[TableRow], with_source: bool) -> pd.DataFrame:
    """One line per row; metric columns nobody reports are left out."""
    frame = pd.DataFrame(
        [
            {
                **({"Source": row.source} if with_source else {}),
                "Model": model_label(row.model),
                "Category": row.category,
                **{title: _value(row.values.get(key)) for key, title in COLUMNS},
            }
            for row in rows
        ]
    )
    return frame.dropna(axis="columns", how="all")


def _styled(frame: pd.DataFrame) -> Styler:
    """Three decimals, "—" where a figure is not reported, average rows in bold."""
    return frame.style.format(precision=3, na_rep="—").apply(
        lambda row: ["font-weight: bold" if row["Category"] == AVERAGE else "" for _ in row], axis=1
    )


def render(selection: Selection) -> None:
    """Our rows and the reference rows for the same categories; the CSV download holds both, machine-readable."""
    categories = selection.categories
    ours = results_rows(list(selection.dataset_runs.values()), categories)
    reference = reference_rows(categories)
    st.markdown(f"**Our runs** · {ours[0].source if ours else 'none'} · F1 at validation-fitted thresholds")
    st.dataframe(_styled(_frame(ours, with_source=False)), hide_index=True, key="table_ours")
    st.markdown("**Reference figures** · labelled with their source; all on the real MVTec-AD")
    st.dataframe(_styled(_frame(reference, with_source=True)), hide_index=True, key="table_reference")
    st.download_button(
        "Download table (CSV)",
        to_csv(ours + reference),
        file_name=f"anomalylens_results_{selection.dataset}.csv",
        mime="text/csv",
        key="table_csv",
        icon=":material/download:",
    )
