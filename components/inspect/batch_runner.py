"""Score every chosen image with every chosen run, once per session, with a progress bar while models run."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.inspect.image_source import ImageInput
from components.shared import resources
from components.shared.style import model_label
from services.data.images import ImageInputError, LoadedImage
from services.inference.detector import Prediction
from services.registry.runs import Run


@dataclass(frozen=True)
class InspectedImage:
    """An image that decoded, and each model's prediction on it at the calibrated threshold."""

    source: ImageInput
    digest: str
    image: LoadedImage
    predictions: dict[str, Prediction]


@dataclass(frozen=True)
class BatchResult:
    """The images that could be scored and one message per file that could not (naming it and why)."""

    images: list[InspectedImage]
    rejected: list[str]


def run(inputs: list[ImageInput], runs: dict[str, Run]) -> BatchResult:
    """Decode each input, then predict where this session has no prediction yet (showing progress)."""
    decoded: list[tuple[ImageInput, str, LoadedImage]] = []
    rejected: list[str] = []
    for source in inputs:
        try:
            image = resources.decoded(source.name, source.data)
        except ImageInputError as exc:
            rejected.append(str(exc))
            continue
        decoded.append((source, resources.digest(source.data), image))
    resources.keep_only_images({digest for _, digest, _ in decoded})
    pending = [
        (source, digest, image, model, run)
        for source, digest, image in decoded
        for model, run in runs.items()
        if resources.cached_prediction(run, digest) is None
    ]
    if pending:
        bar = st.progress(0.0, text=f"Scoring {len(pending)} image × model pairs")
        for done, (source, digest, image, model, run) in enumerate(pending, start=1):
            resources.predict(run, image, digest)
            bar.progress(done / len(pending), text=f"{model_label(model)}: {source.name} ({done}/{len(pending)})")
        bar.empty()
    images = [
        InspectedImage(
            source, digest, image, {model: resources.predict(run, image, digest) for model, run in runs.items()}
        )
        for source, digest, image in decoded
    ]
    return BatchResult(images=images, rejected=rejected)
