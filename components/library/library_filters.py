"""The Defect library's filters: category, model and defect type."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.shared.sidebar import Selection, keep_valid
from components.shared.style import model_label
from services.registry.artefacts import defect_types

ALL = "all"


@dataclass(frozen=True)
class LibraryFilters:
    """Which indexed cases to show; ``defect_type`` ``None`` means every type."""

    categories: tuple[str, ...]
    models: tuple[str, ...]
    defect_type: str | None


def _picker(column: DeltaGenerator, label: str, options: list[str], key: str, **kwargs: object) -> str:
    keep_valid(key, options)
    return column.selectbox(label, options, key=key, **kwargs)


def render(selection: Selection) -> LibraryFilters:
    """Three pickers in a row, starting from the sidebar's category."""
    categories, models = list(selection.categories), list(selection.models)
    if "library_category" not in st.session_state:
        st.session_state["library_category"] = selection.category
    category_column, model_column, defect_column = st.columns(3)
    category = _picker(category_column, "Category", [ALL, *categories], "library_category")
    model = _picker(
        model_column,
        "Model",
        [ALL, *models],
        "library_model",
        format_func=lambda m: "both" if m == ALL else model_label(m),
    )
    chosen_categories = categories if category == ALL else [category]
    runs = [run for (_, c), run in selection.dataset_runs.items() if c in chosen_categories]
    defects = sorted({defect for run in runs for defect in defect_types(run)})
    defect = _picker(defect_column, "Defect type", [ALL, *defects], "library_defect")
    return LibraryFilters(
        categories=tuple(chosen_categories),
        models=tuple(models if model == ALL else [model]),
        defect_type=None if defect == ALL else defect,
    )
