"""Import an anomalib model trained elsewhere: the files, the product name and, for a pickle, the user's trust."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from components.shared import sign_in
from components.shared.style import plain_text
from services.inference.model_import import ImportRequest, import_run
from services.modeling.model_table import MODEL_NAMES, model_spec
from services.registry.imports import FORMATS, PICKLE_RULE, ModelImportError
from services.settings import get_settings

FOUND = "found in the file"
UPLOAD_TYPES = sorted({suffix.lstrip(".") for suffix in FORMATS} | {"bin"})


def _model_file(folder: Path) -> Path:
    """The one uploaded model file (the ``.bin`` of an IR travels beside its ``.xml``)."""
    candidates = sorted(path for path in folder.iterdir() if path.suffix.lower() in FORMATS)
    if len(candidates) != 1:
        names = ", ".join(path.name for path in candidates) or "none"
        raise ModelImportError(f"upload one model file (.ckpt, .xml with its .bin, or .pt); got {names}")
    return candidates[0]


def render() -> None:
    """The import form; on submit, the new run or the reason it was refused."""
    st.subheader("Import a model trained elsewhere")
    with st.form("import_run", clear_on_submit=False):
        uploads = st.file_uploader(
            "anomalib model: Lightning .ckpt, OpenVINO .xml with its .bin, or torch .pt export",
            type=UPLOAD_TYPES,
            accept_multiple_files=True,
            key="import_files",
        )
        category = st.text_input("Product (category) name", key="import_category", help="letters, digits, - and _")
        model = st.selectbox(
            "Model",
            (FOUND, *MODEL_NAMES),
            key="import_model",
            help="required for an OpenVINO IR",
            format_func=lambda name: name if name == FOUND else model_spec(name).label,
        )
        data = st.text_input("Dataset root to score it on (optional, a folder on this server)", key="import_data")
        trust = st.checkbox("I trust this .pt file's source", key="import_trust", help=PICKLE_RULE)
        if trust:
            st.warning(f"Reading a .pt export runs the code it holds: {PICKLE_RULE}.")
        submitted = st.form_submit_button("Import")
    if not submitted:
        return
    settings = get_settings()
    with tempfile.TemporaryDirectory() as folder:
        for upload in uploads or []:
            (Path(folder) / Path(upload.name).name).write_bytes(upload.getvalue())
        try:
            request = ImportRequest(
                file=_model_file(Path(folder)),
                category=category.strip(),
                data=Path(data.strip()) if data.strip() else None,
                trust=trust,
                model=None if model == FOUND else model,
                device=settings.resolved_device(),
            )
            with st.spinner("Importing…"):
                run = import_run(request, settings, progress=lambda _: None, user=sign_in.acting_user())
        except (ValueError, FileNotFoundError) as exc:
            st.error(plain_text(str(exc)))
            return
    st.success(f"Imported {run.record.model}/{run.record.category} as run {run.record.run}: reload to see it.")
