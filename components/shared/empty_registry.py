"""First start: the registry holds no run yet: the demo build's progress while it runs, else how to build one."""

from __future__ import annotations

import streamlit as st

from components.shared import job_card, sign_in
from components.shared.style import plain_text
from services.access import AccessDeniedError, Action
from services.jobs.commands import demo_build, start_demo_build
from services.registry.runs import list_runs
from services.registry.writable import NotWritableError
from services.settings import get_settings

REFRESH_S = 2.0
TRAIN_PAGE = "pages/train.py"


@st.fragment(run_every=REFRESH_S)
def _demo_progress() -> None:
    settings = get_settings()
    job = demo_build(settings)
    if list_runs(settings) or job is None or not job.active:
        st.rerun()  # the first product landed, or the build ended: rerun the app to show it
    st.info(
        "Building the demo registry in the background: synthetic tile, leather and grid images, PatchCore and "
        "EfficientAd per product, the similar-defect index. Each product opens here as soon as its first run is done.",
        icon=":material/hourglass_top:",
    )
    job_card.render(job)


def _start_demo() -> None:
    """The button's callback: start the build, or say why it cannot start (a read-only registry)."""
    try:
        start_demo_build(get_settings(), user=sign_in.acting_user())
    except (NotWritableError, AccessDeniedError) as exc:
        st.error(plain_text(str(exc)), icon=":material/error:")


def _how_to_build() -> None:
    settings = get_settings()
    held = "no usable run (each was refused, the sidebar says why)" if list_runs(settings) else "no trained run yet"
    st.info(
        f"The model registry at `{settings.registry_dir}` holds {held}, so there is nothing to inspect.",
        icon=":material/inventory_2:",
    )
    job = demo_build(settings)
    if job is not None:
        job_card.render(job, cancellable=False)
    st.markdown(
        "**Build the demo registry** (synthetic tile, leather and grid images; PatchCore and EfficientAd per "
        "category; the similar-defect index) in the background, from here or with `make run`; on its own:"
    )
    st.button(
        "Build the demo registry",
        on_click=_start_demo,
        type="primary",
        icon=":material/play_arrow:",
        disabled=not sign_in.acting_user().may(Action.TRAIN),
    )
    st.code("python -m services.cli demo", language="bash")
    st.markdown("**Or train your own product** from a folder or a .zip of images:")
    st.page_link(TRAIN_PAGE, label="Train a product", icon=":material/rocket_launch:")
    st.markdown("**Or train on the real MVTec-AD** (standard layout under one folder):")
    st.code(
        "python -m services.cli benchmark --dataset mvtec_ad --root /path/to/mvtec_anomaly_detection",
        language="bash",
    )
    st.caption(
        "The registry folder is `ANOMALYLENS_REGISTRY`; datasets live under "
        f"`ANOMALYLENS_DATA_ROOT` (now `{settings.data_root}`)."
    )


def render() -> None:
    """The demo build's stage, progress and ETA while it runs; otherwise the ways to get a first run."""
    st.title("AnomalyLens")
    job = demo_build(get_settings())
    if job is not None and job.active:
        _demo_progress()
    else:
        _how_to_build()
