"""The results of many images as a sortable table, with a CSV download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.inspect.batch_runner import InspectedImage
from components.inspect.threshold_controls import ViewSettings
from components.shared.style import model_label
from services.inference.detector import Prediction
from services.records.record import NOT_THIS_PRODUCT
from services.registry.runs import Run


def _verdict(judged: Prediction, view: ViewSettings) -> str:
    """OK, NG or REVIEW at the view's band; ``not this product`` where the product gate turned the image away."""
    return NOT_THIS_PRODUCT if judged.is_foreign else view.verdict(judged).value


def _rows(images: list[InspectedImage], runs: dict[str, Run], view: ViewSettings) -> pd.DataFrame:
    rows = []
    for inspected in images:
        for model, prediction in inspected.predictions.items():
            judged = view.judge(prediction, runs[model])
            rows.append(
                {
                    "Image": inspected.source.name,
                    "Model": model_label(model),
                    "Score": round(judged.score, 4),
                    "Verdict": _verdict(judged, view),
                    "Defect regions": len(judged.regions),
                    "Largest region (%)": round(max((r.area_pct for r in judged.regions), default=0.0), 2),
                    "Inference (ms)": round(judged.timings_ms.get("total", float("nan")), 1),
                }
            )
    return pd.DataFrame(rows)


def render(images: list[InspectedImage], runs: dict[str, Run], view: ViewSettings) -> None:
    """Each image judged as its verdict is (:meth:`ViewSettings.judge`); click a column header to sort; the download
    holds the same rows."""
    table = _rows(images, runs, view)
    st.dataframe(
        table,
        hide_index=True,
        key="results_table",
        column_config={
            "Score": st.column_config.ProgressColumn("Score", min_value=0.0, max_value=1.0, format="%.3f"),
        },
    )
    st.download_button(
        "Download results (CSV)",
        table.to_csv(index=False),
        file_name="anomalylens_results.csv",
        mime="text/csv",
        key="results_csv",
        icon=":material/download:",
    )
