"""The sidebar: which dataset, category and model(s) every page shows, and the registry runs in use."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.shared import refused_runs
from components.shared.run_card import render_run_card
from components.shared.style import dataset_label, model_label
from services.modeling.model_table import MODEL_NAMES
from services.registry.integrity import usable_runs
from services.registry.runs import Run, latest_runs, sorted_categories
from services.registry.versions import lineage, version_label
from services.settings import get_settings

SELECTION_KEY = "_selection"
BOTH = "both"
NEWEST = "newest"
"""The version picker's first choice: whatever version is newest now, so a version learned later is taken up."""


@dataclass(frozen=True)
class Selection:
    """What the user picked: a dataset and category, and the run in use per chosen model (display order)."""

    dataset: str
    category: str
    runs: dict[str, Run]
    dataset_runs: dict[tuple[str, str], Run]
    """Newest run per (model, category) of the dataset, for pages that compare categories."""

    @property
    def categories(self) -> tuple[str, ...]:
        """The dataset's categories that have a run (:func:`sorted_categories` order)."""
        return sorted_categories(category for _, category in self.dataset_runs)

    @property
    def models(self) -> tuple[str, ...]:
        """The models with a run on the dataset, in display order."""
        return tuple(m for m in MODEL_NAMES if any(model == m for model, _ in self.dataset_runs))


def _model_choices(available: list[str]) -> list[str]:
    return [*available, BOTH] if len(available) > 1 else available


def _choice_label(choice: str) -> str:
    return "Both, side by side" if choice == BOTH else model_label(choice)


def keep_valid(key: str, options: list[str]) -> None:
    """Reset a picker whose remembered value is no longer offered (e.g. a model missing in the new category)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]


def _picked_version(model: str, newest: Run) -> Run:
    """``newest``, or an earlier version of its run picked in the sidebar (offered where the run has versions learned
    from reviews: each stays selectable, and picking the one before a false alarm undoes it for this session)."""
    usable, _ = usable_runs({run.record.run: run for run in lineage(newest)})
    if len(usable) < 2:
        return newest
    older = {name: run for name, run in usable.items() if name != newest.record.run}
    options = [NEWEST, *older]
    key = f"version_{model}"
    keep_valid(key, options)
    chosen = st.selectbox(
        f"{model_label(model)} version",
        options,
        format_func=lambda name: f"{version_label(newest)} (newest)" if name == NEWEST else version_label(older[name]),
        key=key,
        help="Versions learned from false alarms on the Review page, newest first; each stays selectable.",
    )
    return newest if chosen == NEWEST else older[chosen]


def render() -> Selection | None:
    """Draw the pickers and run cards; ``None`` when the registry holds no usable run. A run whose model files
    changed after it was written is not offered; the sidebar says which and why."""
    latest, refused = usable_runs(latest_runs(get_settings()))
    if refused:
        with st.sidebar:
            refused_runs.render(refused)
    if not latest:
        st.session_state.pop(SELECTION_KEY, None)
        return None
    with st.sidebar:
        datasets = sorted({dataset for dataset, _, _ in latest})
        keep_valid("dataset", datasets)
        dataset = st.selectbox("Dataset", datasets, format_func=dataset_label, key="dataset")
        dataset_runs = {(model, category): run for (name, model, category), run in latest.items() if name == dataset}
        categories = list(sorted_categories(category for _, category in dataset_runs))
        keep_valid("category", categories)
        category = st.selectbox("Category", categories, key="category")
        available = [model for model in MODEL_NAMES if (model, category) in dataset_runs]
        choices = _model_choices(available)
        keep_valid("model", choices)
        choice = st.radio("Model", choices, format_func=_choice_label, key="model")
        models = available if choice == BOTH else [choice]
        runs = {model: _picked_version(model, dataset_runs[(model, category)]) for model in models}
        st.caption("Runs in use")
        for run in runs.values():
            render_run_card(run)
    selection = Selection(dataset=dataset, category=category, runs=runs, dataset_runs=dataset_runs)
    st.session_state[SELECTION_KEY] = selection
    return selection


def current() -> Selection | None:
    """The selection drawn by :func:`render` in this script run (pages call this)."""
    return st.session_state.get(SELECTION_KEY)
