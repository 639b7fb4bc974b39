"""Defect library: browse the indexed anomalous cases and explore any case's nearest neighbours."""

from __future__ import annotations

import streamlit as st

from components.library import case_detail, case_gallery, library_filters
from components.shared import app_shell, page_access, sidebar

app_shell.ensure_app()
page_access.require("library")

selection = sidebar.current()
st.title("Defect library")
filters = library_filters.render(selection)
found = case_gallery.entries(selection, filters)
if found:
    gallery_area, detail_area = st.columns([1, 1], gap="large")
    with gallery_area:
        chosen = case_gallery.render(found)
    with detail_area:
        case_detail.render(chosen)
