"""Train: start training a product from a dataset folder or an uploaded .zip, and follow the background jobs."""

from __future__ import annotations

import streamlit as st

from components.shared import app_shell, page_access
from components.train import job_list, train_form

app_shell.ensure_app()
page_access.require("train")

st.title("Train")
st.caption(
    "Training runs in a background process: this page, other pages and other users stay usable, and the job "
    "survives a page reload. A run appears in the sidebar once it is complete."
)
train_form.render()
job_list.render()
