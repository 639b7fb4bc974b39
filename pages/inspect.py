"""Inspect: score uploads or test-set samples with one or both models, judge them live, explore their defects."""

from __future__ import annotations

import streamlit as st

from components.inspect import (
    batch_runner,
    chart_preload,
    image_source,
    inspection_panel,
    part_input,
    record_status,
    rejected_files,
    results_table,
    threshold_controls,
)
from components.shared import app_shell, page_access, sidebar

app_shell.ensure_app()
page_access.require("inspect")

selection = sidebar.current()
st.title("Inspect")
source_area, settings_area = st.columns([1, 1], gap="large")
with source_area:
    typed_part = part_input.render()
    inputs = image_source.render(next(iter(selection.runs.values())))
with settings_area:
    view = threshold_controls.render()
batch = batch_runner.run(inputs, selection.runs)
rejected_files.render(batch.rejected)
if not batch.images:
    st.info(
        "Upload one or more images, or pick a test-set sample, to see heatmaps and verdicts.", icon=":material/upload:"
    )
    chart_preload.render()
    st.stop()
record_area = st.container()
shown = batch.images[0]
if len(batch.images) > 1:
    results_table.render(batch.images, selection.runs, view)
    names = {inspected.digest: inspected.source.name for inspected in batch.images}
    digest = st.selectbox("Show image", list(names), format_func=names.__getitem__, key="inspect_image")
    shown = next(inspected for inspected in batch.images if inspected.digest == digest)
models = list(selection.runs)
if len(models) == 1:
    figure_area, detail_area = st.columns([3, 2], gap="medium")
    inspection_panel.render(
        shown,
        models[0],
        selection.runs[models[0]],
        view,
        figure_area=figure_area,
        detail_area=detail_area,
        neighbour_area=st.container(),
        neighbour_columns=5,
    )
else:
    for column, model in zip(st.columns(len(models), gap="medium"), models, strict=True):
        inspection_panel.render(
            shown,
            model,
            selection.runs[model],
            view,
            figure_area=column,
            detail_area=column,
            neighbour_area=column,
            neighbour_columns=3,
        )
with record_area:
    record_status.render(record_status.record(batch.images, selection.runs, view, typed_part))
