"""Where the Inspect page's images come from: uploaded files, or one image of the run's test set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from components.shared.style import plain_text
from services.data.datasets import DatasetError
from services.data.images import ACCEPTED_FORMATS, SUFFIX_FORMATS, accepted_text
from services.registry.artefacts import scored_samples
from services.registry.runs import Run
from services.settings import get_settings

UPLOAD = "Upload images"
SAMPLE = "Test-set sample"
UPLOAD_TYPES = [suffix.lstrip(".") for suffix in SUFFIX_FORMATS]


@dataclass(frozen=True)
class ImageInput:
    """One image to inspect: its display name and file bytes; ``dataset_path`` is set for test-set samples."""

    name: str
    data: bytes
    dataset_path: str | None = None
    """The sample's path as the similar-defect index stores it (its own cases are left out of its neighbours)."""


def _sample_inputs(run: Run) -> list[ImageInput]:
    try:
        samples = scored_samples(run, get_settings())
    except DatasetError as exc:
        st.warning(f"The test set of this run is not on disk: {plain_text(str(exc))}", icon=":material/folder_off:")
        return []
    labels = {str(sample.path): f"{sample.defect_type} / {sample.path.name}" for sample in samples}
    chosen = st.selectbox(
        "Test image",
        list(labels),
        format_func=labels.__getitem__,
        key="inspect_sample",
        help="Ground-truth folder / file",
    )
    path = Path(chosen)
    return [ImageInput(name=labels[chosen], data=path.read_bytes(), dataset_path=chosen)]


def render(run: Run) -> list[ImageInput]:
    """The source picker and its widget; returns the chosen images (none yet: an empty list)."""
    source = st.radio("Source", [UPLOAD, SAMPLE], key="inspect_source", horizontal=True, label_visibility="collapsed")
    if source == SAMPLE:
        return _sample_inputs(run)
    files = st.file_uploader(
        f"Images ({', '.join(ACCEPTED_FORMATS)})",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key="inspect_upload",
        help=accepted_text(get_settings().max_image_pixels),
    )
    return [ImageInput(name=file.name, data=file.getvalue()) for file in files or []]
