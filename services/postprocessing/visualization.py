"""Heatmap rendering shared by the registry's PNG panels and the dashboard (pure numpy/OpenCV).

Maps are normalised scores in [0, 1] where 0.5 is the calibrated threshold, so one fixed colour scale makes a
normal image look calm and a defect look hot, whatever the model.
"""

from __future__ import annotations

import cv2
import numpy as np

COLORMAP = cv2.COLORMAP_JET
CONTOUR_RGB = (255, 40, 40)
TRUTH_RGB = (40, 220, 90)


def resize_map(anomaly_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a (h, w) float map to (height, width)."""
    if anomaly_map.shape == (height, width):
        return anomaly_map.astype(np.float32, copy=False)
    return cv2.resize(anomaly_map.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def colorize(anomaly_map: np.ndarray) -> np.ndarray:
    """RGB uint8 colours of a [0, 1] map on the fixed scale."""
    scaled = np.clip(anomaly_map, 0.0, 1.0) * 255.0
    bgr = cv2.applyColorMap(scaled.astype(np.uint8), COLORMAP)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def overlay(rgb: np.ndarray, anomaly_map: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend the colourised map over an RGB image of any size (the map is resized to it)."""
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be within [0, 1], got {opacity}")
    heat = colorize(resize_map(anomaly_map, *rgb.shape[:2]))
    return cv2.addWeighted(rgb, 1.0 - opacity, heat, opacity, 0.0)


def draw_contours(rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = CONTOUR_RGB) -> np.ndarray:
    """A copy of the image with the outlines of a boolean mask (resized to the image) drawn on it."""
    if mask.shape != rgb.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = rgb.copy()
    thickness = max(1, round(min(rgb.shape[:2]) / 200))
    cv2.drawContours(out, contours, -1, color, thickness)
    return out


def panel(rgb: np.ndarray, anomaly_map: np.ndarray, pred_mask: np.ndarray, gt_mask: np.ndarray | None) -> np.ndarray:
    """The reference study's figure row: image | heatmap overlay | predicted mask | ground truth."""
    height, width = rgb.shape[:2]
    pred = cv2.resize(pred_mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
    truth = np.zeros((height, width), bool) if gt_mask is None else gt_mask
    tiles = [
        rgb,
        overlay(rgb, anomaly_map),
        np.repeat((pred * 255).astype(np.uint8)[..., None], 3, axis=2),
        draw_contours(np.repeat((truth * 255).astype(np.uint8)[..., None], 3, axis=2), truth, TRUTH_RGB),
    ]
    gap = np.full((height, 4, 3), 255, np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)
