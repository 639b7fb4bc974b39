"""A paged gallery of indexed anomalous cases, each under its heatmap; a click picks the case to explore."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from components.library.library_filters import LibraryFilters
from components.shared import resources
from components.shared.sidebar import Selection
from components.shared.style import model_heading, model_label, model_rgb, plain_text
from services.registry.artefacts import no_known_defects_reason
from services.registry.runs import Run
from services.similarity.cases import CaseLibrary
from services.similarity.store import StoredItem, StoreUnavailableError

PAGE_SIZE = 9
GRID_COLUMNS = 3
STRIP_PX = 8
CHOSEN_KEY = "library_case"


@dataclass(frozen=True)
class GalleryEntry:
    """A stored case and the library of the run it belongs to."""

    library: CaseLibrary
    item: StoredItem


def entries(selection: Selection, filters: LibraryFilters) -> list[GalleryEntry] | None:
    """The cases the filters select among the runs in use, or ``None`` after saying why there can be none."""
    runs = [
        run
        for (model, category), run in selection.dataset_runs.items()
        if model in filters.models and category in filters.categories
    ]
    try:
        libraries = [resources.case_library(run) for run in runs]
        found = [GalleryEntry(library, item) for library in libraries for item in library.cases(filters.defect_type)]
    except resources.StoreBusyError as exc:
        st.info(f"The defect library is unavailable for now: {exc}.", icon=":material/hourglass_top:")
        return None
    except StoreUnavailableError as exc:
        st.warning(f"The defect library is unavailable: {plain_text(str(exc))}", icon=":material/cloud_off:")
        return None
    if not found:
        st.info(
            "No indexed case matches these filters. Runs are indexed by `python -m services.cli demo` or "
            f"`python -m services.cli index --dataset {selection.dataset}`.{_why_no_cases(runs)}",
            icon=":material/info:",
        )
        return None
    return found


def _why_no_cases(runs: list[Run]) -> str:
    """The runs that cannot hold a known defect, and why (empty when every run can)."""
    reasons = [(run, no_known_defects_reason(run)) for run in runs]
    lines = [f"{model_label(run.record.model)} · {run.record.category}: {reason}" for run, reason in reasons if reason]
    return " No known defect to index in " + "; ".join(lines) + "." if lines else ""


def _with_model_strip(image: np.ndarray, model: str) -> np.ndarray:
    """The image under a strip of the model's colour, so mixed galleries show whose case each one is."""
    strip = np.empty((STRIP_PX, image.shape[1], 3), np.uint8)
    strip[:] = model_rgb(model)
    return np.concatenate([strip, image], axis=0)


def _choose(item_id: str) -> None:
    st.session_state[CHOSEN_KEY] = item_id


def render(found: list[GalleryEntry]) -> GalleryEntry:
    """The current page of the gallery; returns the chosen case (the first one until something is clicked)."""
    pages = max(1, -(-len(found) // PAGE_SIZE))
    header, pager = st.columns([3, 1], vertical_alignment="bottom")
    models = dict.fromkeys(entry.item.payload.model for entry in found)
    header.markdown(
        f"<span style='color:#64748b;font-size:0.85rem'>{len(found)} known defects (test regions on their ground-truth "
        f"mask), highest anomaly score first · {' '.join(model_heading(model) for model in models)}</span>",
        unsafe_allow_html=True,
    )
    page = (
        pager.number_input("Page", min_value=1, max_value=pages, value=1, step=1, key="library_page")
        if pages > 1
        else 1
    )
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    chosen_id = st.session_state.get(CHOSEN_KEY)
    columns = st.columns(GRID_COLUMNS)
    for index, entry in enumerate(shown):
        payload = entry.item.payload
        with columns[index % GRID_COLUMNS]:
            st.image(_with_model_strip(entry.library.thumbnail(payload).heatmap, payload.model), width="stretch")
            st.button(
                f"{plain_text(payload.defect_type)} · {payload.score:.2f}",
                key=f"case__{entry.item.id}",
                on_click=_choose,
                args=(entry.item.id,),
                type="primary" if entry.item.id == chosen_id else "secondary",
                help=plain_text(f"{model_label(payload.model)} · {payload.category} · {payload.image_path}"),
                width="stretch",
            )
    return next((entry for entry in found if entry.item.id == chosen_id), found[0])
