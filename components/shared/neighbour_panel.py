"""A defect's nearest anomalous neighbours from the similar-defect store, with the defect-type vote.

Each neighbour shows its context crop and the same crop under its heatmap, its defect type, its similarity and
the test image it comes from. When the store cannot be searched the panel says why, and the rest of the page
(heatmaps, verdicts) is unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st

from components.shared import resources
from components.shared.style import plain_text
from services.data.images import ImageInputError
from services.registry.artefacts import no_known_defects_reason
from services.registry.runs import Run
from services.similarity.cases import CaseLibrary, CaseLookupError, CaseThumbnail, SimilarCases
from services.similarity.store import SimilarityInputError, StoreUnavailableError

GAP_PX = 4


def _library(run: Run) -> CaseLibrary | None:
    """The run's case library, or ``None`` after saying why the panel stays empty."""
    try:
        library = resources.case_library(run)
    except resources.StoreBusyError as exc:
        st.info(f"Similar defects: {exc}.", icon=":material/hourglass_top:")
        return None
    except StoreUnavailableError as exc:
        st.warning(
            f"Similar defects are unavailable (the heatmap and verdict are not affected): {plain_text(str(exc))}",
            icon=":material/cloud_off:",
        )
        return None
    if library.indexed_regions() == 0:
        record = run.record
        reason = no_known_defects_reason(run)
        if reason:
            st.info(
                f"No similar defects: run `{record.run}` has no known defect to compare with ({reason}).",
                icon=":material/info:",
            )
            return None
        st.info(
            f"No similar defects yet: run `{record.run}` has not been indexed into Qdrant. Index it with "
            f"`python -m services.cli index --dataset {record.dataset} --models {record.model} "
            f"--categories {record.category}`.",
            icon=":material/info:",
        )
        return None
    return library


def _library_caption(run: Run, library: CaseLibrary) -> str:
    """How many known defects the library holds and how well it retrieved their type on its own test set."""
    caption = f"Library: {library.indexed_regions()} known defects of run `{run.record.run}` (regions on their mask)"
    p5 = run.record.retrieval.get("precision_at_5")
    if p5 is None or math.isnan(p5):  # not evaluated yet, or no query
        return caption
    return f"{caption} · leave-one-image-out, {p5:.0%} of each one's 5 nearest shared its defect type (P@5)"


def _side_by_side(thumbnail: CaseThumbnail) -> np.ndarray:
    """The heatmap crop and the image crop next to each other, with a thin white gap."""
    gap = np.full((thumbnail.heatmap.shape[0], GAP_PX, 3), 255, np.uint8)
    return np.concatenate([thumbnail.heatmap, gap, thumbnail.image], axis=1)


def render(
    run: Run, search: Callable[[CaseLibrary], SimilarCases], cache_key: tuple[object, ...], columns: int = 5
) -> None:
    """Search with ``search`` (once per ``cache_key`` and session) and draw the neighbours, or why there are none."""
    library = _library(run)
    if library is None:
        return
    cache: dict[tuple[object, ...], SimilarCases] = st.session_state.setdefault(resources.NEIGHBOURS_KEY, {})
    if cache_key not in cache:
        try:
            with st.spinner("Searching similar defects…"):
                cache[cache_key] = search(library)
        except (StoreUnavailableError, SimilarityInputError, CaseLookupError, ImageInputError) as exc:
            st.warning(f"Similar defects could not be searched: {plain_text(str(exc))}", icon=":material/search_off:")
            return
    found = cache[cache_key]
    if not found.cases:
        st.info("The index holds no other defect of this run to compare with.", icon=":material/info:")
        return
    vote = f"{found.vote.summary} neighbours" if found.vote.votes else found.vote.summary
    st.markdown(f"**Nearest anomalous neighbours** · {plain_text(vote)}")
    st.caption(_library_caption(run, library))
    grid = st.columns(columns)
    for rank, case in enumerate(found.cases):
        with grid[rank % columns]:
            st.image(_side_by_side(case.thumbnail), width="stretch")
            st.caption(
                f"**{plain_text(case.payload.defect_type)}** · sim {case.similarity:.2f}  \n"
                f"{plain_text(Path(case.payload.image_path).name)}",
                help=f"Source image: {plain_text(case.payload.image_path)}",
            )
