"""One model on one image: the clickable heatmap figure, the verdict, the defect picker and the defect's neighbours."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from components.inspect import budget_note, defect_figure, foreign_notice, region_picker, verdict
from components.inspect.batch_runner import InspectedImage
from components.inspect.threshold_controls import ViewSettings
from components.shared import neighbour_panel, resources
from components.shared.style import html_text, model_heading
from services.registry.runs import Run


def heading(model: str, image_name: str) -> str:
    """The model in its colour and the image's name, as HTML in which the name is text."""
    return f"{model_heading(model)} <span style='color:#64748b'>· {html_text(image_name)}</span>"


def render(
    inspected: InspectedImage,
    model: str,
    run: Run,
    view: ViewSettings,
    *,
    figure_area: DeltaGenerator,
    detail_area: DeltaGenerator,
    neighbour_area: DeltaGenerator,
    neighbour_columns: int,
) -> None:
    """Figure, then verdict and regions, then neighbours, each in its area (areas may be the same container)."""
    prediction = view.judge(inspected.predictions[model], run)
    key = region_picker.region_key(model, inspected.digest)
    selected = region_picker.picked(prediction.regions, key)
    with figure_area:
        st.markdown(heading(model, inspected.source.name), unsafe_allow_html=True)
        defect_figure.render(
            inspected.image.rgb,
            prediction,
            view.opacity,
            figure_key=defect_figure.chart_key(model, inspected.digest),
            region_key=key,
            selected=selected,
        )
    with detail_area:
        if foreign_notice.render(prediction):
            return
        verdict.render(prediction, view.band(prediction), resources.detector(run))
        budget_note.render(run, view)
        region_picker.render(prediction.regions, key)
    if selected is None:
        return
    rgb, anomaly_map = inspected.image.rgb, prediction.anomaly_map
    with neighbour_area:
        neighbour_panel.render(
            run,
            lambda library: library.similar_to_region(
                rgb, anomaly_map, selected, exclude_image_path=inspected.source.dataset_path
            ),
            cache_key=(inspected.digest, str(run.path), prediction.map_threshold, selected.id),
            columns=neighbour_columns,
        )
