"""The form that starts a training job: a dataset folder on the server or an uploaded .zip, the product name,
layout, models and profile; every problem is shown as one clear message before anything starts."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components.shared import resources, sign_in
from components.shared.style import model_label, plain_text
from services.jobs.commands import LAYOUTS, TrainRequest, start_training
from services.jobs.uploads import extract_dataset_zip, upload_folder
from services.modeling.model_table import MODEL_NAMES, PROFILES
from services.settings import get_settings

FOLDER, ZIP = "folder", "zip"
SOURCE_LABELS = {FOLDER: "A folder on the server", ZIP: "Upload a .zip of the images"}
LAYOUT_LABELS = {
    "folder": "Folder: normal images, one folder per defect type, optional masks",
    "mvtec": "MVTec-AD: train/good, test/<defect>, ground_truth/<defect> (masks)",
}


def _problems(source: str, folder: str, upload: object, request: TrainRequest) -> list[str]:
    if source == ZIP:
        return (["choose a .zip file to upload"] if upload is None else []) + request.choice_problems()
    if not folder.strip():
        return ["enter the path of the dataset folder on the server", *request.choice_problems()]
    return request.problems()


def _start(source: str, folder: str, upload: object, request: TrainRequest) -> None:
    problems = _problems(source, folder, upload, request)
    if problems:
        for problem in problems:
            st.error(plain_text(problem), icon=":material/error:")
        return
    if source == ZIP:
        extracted = extract_dataset_zip(
            get_settings(),
            request.category,
            upload.getvalue(),
            user=sign_in.acting_user(),  # type: ignore[attr-defined]
        )
        st.info(f"Extracted {extracted.files} files into `{extracted.folder}`.", icon=":material/folder_zip:")
    resources.release_store()  # the job indexes its runs at its end into the embedded store, one process at a time
    job = start_training(get_settings(), request, user=sign_in.acting_user())
    st.success(f"Started: {job.title}. Its progress is below; you may leave this page.", icon=":material/play_circle:")


def render() -> None:
    """Draw the form; on submit, check it and start the job, or list what is wrong."""
    source = st.radio(
        "Images", (FOLDER, ZIP), format_func=SOURCE_LABELS.__getitem__, horizontal=True, key="train_source"
    )
    with st.form("train_form"):
        folder, upload = "", None
        if source == FOLDER:
            folder = st.text_input("Dataset folder on the server", key="train_folder", placeholder="/data/pcb")
        else:
            upload = st.file_uploader("Dataset .zip", type=["zip"], key="train_zip")
        name = st.text_input(
            "Product name", key="train_name", placeholder="pcb_connector", help="letters, digits, '-' and '_'"
        )
        layout = st.selectbox("Layout", LAYOUTS, format_func=LAYOUT_LABELS.__getitem__, key="train_layout")
        models = st.multiselect(
            "Models", MODEL_NAMES, default=list(MODEL_NAMES), format_func=model_label, key="train_models"
        )
        profile = st.selectbox("Profile", PROFILES, key="train_profile")
        submitted = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    if not submitted:
        return
    name = name.strip()
    data = Path(folder.strip()) if source == FOLDER else _upload_target(name)
    request = TrainRequest(data=data, category=name, layout=layout, models=tuple(models), profile=profile)
    try:
        _start(source, folder, upload, request)
    except ValueError as exc:
        st.error(plain_text(str(exc)), icon=":material/error:")


def _upload_target(name: str) -> Path:
    try:
        return upload_folder(get_settings(), name)
    except ValueError:
        return get_settings().data_root / "uploads"
