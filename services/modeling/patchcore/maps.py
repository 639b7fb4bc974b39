"""PatchCore's anomaly-map smoothing, scaled with the model input and computed as two 1-D passes.

anomalib's PatchCore upsamples the patch scores to the model input and smooths them with a Gaussian of fixed sigma
(4 px), whatever the input size; at a 512 px input that is half the blur relative to the part that a 256 px input
gets. :func:`map_sigma_for` scales the sigma with the input side. anomalib applies the Gaussian as one 2-D
convolution (a 65×65 kernel at sigma 8, slow on CPU); the kernel is separable, so :class:`SeparableGaussianBlur`
applies the same kernel as a row pass and a column pass, with the same padding and the same kernel buffer
(checkpoints stay anomalib's). ``benchmarks/bench_map_blur.py`` times both (docs/results.md).
"""

from __future__ import annotations

import torch
from anomalib.models.components import GaussianBlur2d
from anomalib.models.image.patchcore.anomaly_map import AnomalyMapGenerator
from torch.nn import functional

ANOMALIB_MAP_SIGMA = 4.0
"""The Gaussian sigma, in model-input pixels, with which anomalib's PatchCore smooths its anomaly maps."""
ANOMALIB_INPUT_SIDE = 256
"""The input side of anomalib's default PatchCore pre-processor, for which that sigma was set."""


def map_sigma_for(image_side: int) -> float:
    """anomalib's map smoothing scaled to a model input of ``image_side`` px: the same blur relative to the part."""
    return ANOMALIB_MAP_SIGMA * image_side / ANOMALIB_INPUT_SIDE


class SeparableGaussianBlur(GaussianBlur2d):
    """anomalib's ``GaussianBlur2d`` ("same" padding) computed as a row pass and a column pass.

    The 2-D kernel buffer is anomalib's (so state dicts are unchanged); the 1-D profiles are its row and column
    sums, which are exactly the two normalised Gaussians whose outer product it is.
    """

    def __init__(self, sigma: float, channels: int = 1) -> None:
        super().__init__(sigma=sigma, channels=channels, border_type="reflect", padding="same")

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        """Blur ``(B, C, H, W)`` maps; same output as the 2-D convolution up to float rounding."""
        kernel = self.kernel[:1, 0]
        vertical, horizontal = kernel.sum(dim=2)[0], kernel.sum(dim=1)[0]
        padded = functional.pad(input_tensor, self.padding_shape, mode=self.border_type)
        channels = self.channels
        rows = functional.conv2d(padded, horizontal.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        return functional.conv2d(rows, vertical.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


class ScaledMapGenerator(AnomalyMapGenerator):
    """anomalib's PatchCore map generator with a given sigma and the separable blur."""

    def __init__(self, sigma: float = ANOMALIB_MAP_SIGMA) -> None:
        if not sigma > 0:
            raise ValueError(f"map sigma must be a positive number of pixels, got {sigma!r}")
        super().__init__(sigma=sigma)
        self.blur = SeparableGaussianBlur(sigma=sigma)
