"""A model-agnostic global descriptor of an RGB image, from the offline ImageNet backbone.

The image is resized to ``INPUT_SIZE`` px square and normalised as the backbone was trained; the descriptor is the
per-channel mean and standard deviation of two intermediate feature maps of ``tf_efficientnet_lite0`` (``blocks.2``,
stride 8, 40 channels; ``blocks.4``, stride 16, 112 channels): what kind of texture and structure the image holds,
wherever it sits. Each of the four parts is L2-normalised, then the whole (``DESCRIPTOR_DIM`` values, unit length),
so that no part outweighs the others and distances between descriptors lie in [0, 2].
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import timm
import torch
from torch.nn import functional

from services.modeling.backbones import load_pretrained_weights
from services.settings import Settings

BACKBONE = "tf_efficientnet_lite0"
FEATURE_INDICES = (2, 3)  # blocks.2 (stride 8, 40 channels), blocks.4 (stride 16, 112 channels)
INPUT_SIZE = 224
DESCRIPTOR_DIM = 2 * (40 + 112)
BATCH_SIZE = 32


class ImageDescriptor:
    """The backbone loaded once on one device; :meth:`describe` turns RGB images into unit descriptors."""

    def __init__(self, settings: Settings, device: str = "cpu") -> None:
        self.device = device
        self.backbone = timm.create_model(BACKBONE, pretrained=False, features_only=True, out_indices=FEATURE_INDICES)
        load_pretrained_weights(self.backbone, BACKBONE, settings)
        self.backbone.eval().to(device)
        config = self.backbone.pretrained_cfg
        self._mean = torch.tensor(config["mean"]).view(1, 3, 1, 1)
        self._std = torch.tensor(config["std"]).view(1, 3, 1, 1)

    def _inputs(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """``(n, 3, INPUT_SIZE, INPUT_SIZE)`` normalised inputs on this device from ``(H, W, 3)`` uint8 images."""
        resized = [cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for rgb in images]
        tensor = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float().div_(255.0)
        return ((tensor - self._mean) / self._std).to(self.device)

    @torch.inference_mode()
    def _describe_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        parts = []
        for feature in self.backbone(self._inputs(images)):
            flat = feature.float().flatten(2)
            parts += [functional.normalize(flat.mean(2), dim=1), functional.normalize(flat.std(2), dim=1)]
        return functional.normalize(torch.cat(parts, dim=1), dim=1).cpu().numpy()

    def describe(self, images: Sequence[np.ndarray], batch_size: int = BATCH_SIZE) -> np.ndarray:
        """``(len(images), DESCRIPTOR_DIM)`` float32 unit descriptors of ``(H, W, 3)`` uint8 RGB images of any size."""
        batches = [self._describe_batch(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        return np.concatenate(batches).astype(np.float32) if batches else np.zeros((0, DESCRIPTOR_DIM), np.float32)
