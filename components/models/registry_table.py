"""Every run in the registry as one table: what it is, how well it did, its thresholds, size and integrity; a metric
its test split cannot define shows "n/a", with the reason in its own column."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from components.shared.run_card import backbone_text, trained_text
from components.shared.style import dataset_label, model_label
from services.registry.artefacts import disk_size_bytes
from services.registry.report import unavailable_text
from services.registry.runs import NOT_AVAILABLE, Run, RunMetrics, list_runs, manifest_status
from services.settings import get_settings

METRICS = (
    ("image_auroc", "I-AUROC"),
    ("pixel_auroc", "P-AUROC"),
    ("image_f1", "I-F1"),
    ("pixel_f1", "P-F1"),
)
STATUS_TEXT = {"ok": "ok", "modified": "MODIFIED", "missing-manifest": "no manifest"}
NOT_AVAILABLE_COLUMN = "Not available"


@st.cache_data(show_spinner="Checking run files…", max_entries=256)
def _integrity(run_path: str, fingerprint: tuple[tuple[str, int, int], ...]) -> str:
    """``manifest_status`` of a run folder, recomputed only when a file's size or time changes."""
    return manifest_status(Path(run_path))


def _fingerprint(run: Run) -> tuple[tuple[str, int, int], ...]:
    files = sorted(path for path in run.path.rglob("*") if path.is_file())
    return tuple((str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in files)


def source_text(record: RunMetrics) -> str:
    """Where the run's model came from: trained here, or the imported file's format and sha256."""
    source = record.source
    if not source:
        return "trained here"
    made_with = f", anomalib {source['anomalib_version']}" if source.get("anomalib_version") else ""
    return f"imported {source['format']} {source['file']} (sha256 {source['sha256'][:12]}{made_with})"


def _row(run: Run) -> dict[str, object]:
    record = run.record
    metrics, thresholds = record.metrics, record.thresholds
    return {
        "Dataset": dataset_label(record.dataset),
        "Model": model_label(record.model),
        "Category": record.category,
        "sha256": STATUS_TEXT.get(_integrity(str(run.path), _fingerprint(run)), "?"),
        "Backbone": backbone_text(record),
        "Image size": record.config.get("image_size"),
        **{title: metrics.get(key, math.nan) for key, title in METRICS},
        NOT_AVAILABLE_COLUMN: unavailable_text(record.unavailable),
        "Thresholds": f"{thresholds.get('image', math.nan):.4g} / {thresholds.get('pixel', math.nan):.4g}",
        "Trained": trained_text(record),
        "Size (MB)": disk_size_bytes(run) / 1e6,
        "Run": record.run,
        "Source": source_text(record),
    }


def _styled(table: pd.DataFrame) -> Styler:
    """Metrics with three decimals and ``n/a`` where not available, sizes with one."""
    formats = {title: "{:.3f}" for _, title in METRICS}
    return table.style.format({**formats, "Size (MB)": "{:.1f}"}, na_rep=NOT_AVAILABLE)


def render() -> None:
    """The table of every complete run, newest first."""
    settings = get_settings()
    st.caption(f"Every complete run in `{settings.registry_dir}`, newest first.")
    table = pd.DataFrame([_row(run) for run in list_runs(settings)])
    number = st.column_config.NumberColumn
    st.dataframe(
        _styled(table),
        hide_index=True,
        key="registry_table",
        column_config={
            "Image size": number("Size (px)", help="Model input side in pixels"),
            **{title: number(title, format="%.3f", width="small") for _, title in METRICS},
            "Thresholds": st.column_config.TextColumn(
                "Thresholds", help="Image / pixel threshold fitted on validation data, in raw model units"
            ),
            "Size (MB)": number("MB", format="%.1f", width="small", help="Run folder size on disk"),
            "sha256": st.column_config.TextColumn("sha256", help="The run's files against its manifest.json"),
            "Source": st.column_config.TextColumn("Source", help="Trained here, or imported from which file"),
            NOT_AVAILABLE_COLUMN: st.column_config.TextColumn(
                NOT_AVAILABLE_COLUMN, help=f"Why a metric shows {NOT_AVAILABLE}: what the run's test split lacks"
            ),
        },
    )
