"""An imported OpenVINO IR of a whole anomalib model, run through the same scoring path as a checkpoint.

anomalib exports the whole module: its pre-processing, the model and its post-processor (min-max normalisation
around the fitted thresholds) are all inside the IR's graph, so its ``pred_score`` and ``anomaly_map`` are already
normalised with the threshold at 0.5. :class:`ImportedIr` gives it a module's calling convention for
:func:`services.modeling.scoring.score_inputs`: a pre-processor that only resizes to the IR's input, and a
post-processor whose normalisation is the identity.
"""

from __future__ import annotations

from pathlib import Path

from anomalib.post_processing import PostProcessor
from anomalib.pre_processing import PreProcessor
from torch import nn
from torchvision.transforms.v2 import Resize

from services.inference.openvino_backend import IrModel

DYNAMIC_INPUT_SIDE = 256
"""The side images are resized to for an IR exported without a fixed input size."""


def ir_input_size(ir: IrModel) -> tuple[int, int]:
    """The (h, w) of the IR's fixed input, or :data:`DYNAMIC_INPUT_SIDE` square where its input size is dynamic."""
    shape = ir.compiled.inputs[0].get_partial_shape()
    if shape.rank.is_static and shape.rank.get_length() == 4 and shape[2].is_static and shape[3].is_static:
        return shape[2].get_length(), shape[3].get_length()
    return DYNAMIC_INPUT_SIDE, DYNAMIC_INPUT_SIDE


def identity_post_processor() -> PostProcessor:
    """anomalib's post-processor set so that its normalisation leaves [0, 1] scores unchanged (threshold 0.5)."""
    post = PostProcessor()
    for name, value in (("_image_threshold", 0.5), ("_pixel_threshold", 0.5), ("image_min", 0.0), ("pixel_min", 0.0)):
        getattr(post, name).fill_(value)
    post.image_max.fill_(1.0)
    post.pixel_max.fill_(1.0)
    return post


class ImportedIr(nn.Module):
    """An imported IR with the three parts scoring reads from a model: pre-processor, model and post-processor."""

    def __init__(self, xml: Path) -> None:
        super().__init__()
        self.model = IrModel(xml)
        self.pre_processor = PreProcessor(transform=Resize(ir_input_size(self.model), antialias=True))
        self.post_processor = identity_post_processor()
