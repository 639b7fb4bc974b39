"""Offline generator of MVTec-layout surfaces (tile, leather, grid) with MVTec's own defect types and pixel masks.

Every image comes from its own random stream, seeded by (seed, category, split, defect type, index), so the same
seed writes byte-identical files and a subset of categories writes the same images as the full set. Surfaces are
procedural (smooth value noise sampled in rotated, shifted surface coordinates), so normal images differ in pose,
lighting and noise while keeping one texture. Several defect types change texture or hue rather than brightness
(``rough``, ``color``, ``fold``), and every type draws its size and contrast from a wide range that includes
faint and tiny cases.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from services.data.datasets import (
    DATASET_RECORD,
    MVTEC_DEFECTS,
    NORMAL,
    DatasetError,
    DatasetInfo,
    Sample,
    Split,
    category_fingerprint,
    check_category,
    combine_fingerprints,
    list_samples,
    mask_path_for,
    open_dataset,
    read_dataset_record,
    read_mask,
)
from services.data.images import read_rgb

SYNTHETIC_CATEGORIES = ("tile", "leather", "grid")
"""The products the generator draws, in the reference study's order."""
SYNTH_VERSION = "1"
MIN_IMAGE_SIZE = 32
REFERENCE_SIZE = 256
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class SynthConfig:
    """How much to generate: image side, counts per split and the seed."""

    seed: int = 0
    image_size: int = 256
    n_train: int = 60
    n_test_good: int = 16
    n_test_per_defect: int = 8

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise DatasetError(f"synthetic seed must be a non-negative integer, got {self.seed}")
        if self.image_size < MIN_IMAGE_SIZE:
            raise DatasetError(f"synthetic image_size must be at least {MIN_IMAGE_SIZE} px, got {self.image_size}")
        for name in ("n_train", "n_test_good", "n_test_per_defect"):
            if getattr(self, name) < 1:
                raise DatasetError(f"synthetic {name} must be at least 1, got {getattr(self, name)}")

    def with_size(self, size: int) -> SynthConfig:
        """The same configuration at another image side."""
        return replace(self, image_size=size)

    @classmethod
    def tiny(cls, seed: int = 0) -> SynthConfig:
        """A few 64 px images per split, for tests."""
        return cls(seed=seed, image_size=64, n_train=8, n_test_good=3, n_test_per_defect=2)


@dataclass(frozen=True)
class SynthSample:
    """One generated image (H×W×3 RGB uint8) and, for a defect, its mask (H×W uint8, 0 or 255)."""

    image: np.ndarray
    mask: np.ndarray | None


@dataclass(frozen=True)
class _Surface:
    """A rendered surface in float RGB [0, 1], its surface coordinates (rotated, shifted pixel units), the pose
    angle, and the spacing and half width of its lines (grout or wires)."""

    image: np.ndarray
    u: np.ndarray
    v: np.ndarray
    angle: float
    period: float
    line_half_width: float


def _noise(rng: np.random.Generator, u: np.ndarray, v: np.ndarray, cell: float) -> np.ndarray:
    """Smooth value noise with unit spread, varying over ``cell`` surface pixels."""
    x, y = u / cell, v / cell
    x0, y0 = np.floor(x.min()) - 2, np.floor(y.min()) - 2
    shape = (int(np.ceil(y.max() - y0)) + 4, int(np.ceil(x.max() - x0)) + 4)
    grid = rng.standard_normal(shape).astype(np.float32)
    field = cv2.remap(
        grid, (x - x0).astype(np.float32), (y - y0).astype(np.float32), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    return (field - field.mean()) / (field.std() + 1e-6)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _blend(image: np.ndarray, layer: np.ndarray | float, alpha: np.ndarray) -> np.ndarray:
    return image * (1.0 - alpha[..., None]) + layer * alpha[..., None]


def _pixel_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    return xs, ys


def _pose(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Surface coordinates of every pixel: a slight rotation and a random shift."""
    angle = float(np.deg2rad(rng.uniform(-3.0, 3.0)))
    xs, ys = _pixel_grid(n)
    xc, yc = xs - n / 2, ys - n / 2
    shift = rng.uniform(0, 4 * n, 2)
    u = np.cos(angle) * xc + np.sin(angle) * yc + shift[0]
    v = -np.sin(angle) * xc + np.cos(angle) * yc + shift[1]
    return u.astype(np.float32), v.astype(np.float32), angle


def _tile(rng: np.random.Generator, n: int) -> _Surface:
    """Light ceramic tile: mottled glaze, speckles of several sizes and grout lines between tiles."""
    s = n / REFERENCE_SIZE
    u, v, angle = _pose(rng, n)
    base = np.array([0.80, 0.78, 0.74], np.float32) * rng.uniform(0.93, 1.04) + rng.normal(0, 0.006, 3)
    mottle = 0.035 * _noise(rng, u, v, 45 * s) + 0.02 * _noise(rng, u, v, 12 * s)
    image = base * (1.0 + mottle)[..., None]
    speckles = (
        (1.6 * s, 1.45, (0.36, 0.35, 0.34)),
        (3.5 * s, 1.75, (0.50, 0.47, 0.45)),
        (6.0 * s, 2.15, (0.30, 0.28, 0.27)),
        (2.2 * s, 1.60, (0.95, 0.94, 0.92)),
    )
    for cell, cutoff, colour in speckles:
        alpha = _smoothstep(cutoff, cutoff + 0.35, _noise(rng, u, v, max(cell, 0.7)))
        image = _blend(image, np.array(colour, np.float32) * rng.uniform(0.9, 1.1), alpha)
    period = rng.uniform(0.55, 0.8) * n
    half = rng.uniform(1.5, 2.8) * max(s, 0.5)
    distance = period / 2 - np.maximum.reduce([np.abs((c % period) - period / 2) for c in (u, v)])
    grout = _smoothstep(half + 0.8, half - 0.4, distance)
    bevel = 0.08 * np.exp(-np.maximum(distance - half, 0) / (2.5 * max(s, 0.5)))
    grout_colour = np.array([0.58, 0.57, 0.55], np.float32) * (1 + 0.06 * _noise(rng, u, v, 2 * s))[..., None]
    image = _blend(image * (1 - bevel)[..., None], grout_colour, grout)
    return _Surface(image, u, v, angle, period, half)


def _leather(rng: np.random.Generator, n: int) -> _Surface:
    """Brown grained leather: a network of shallow creases, pores and soft bump shading."""
    s = n / REFERENCE_SIZE
    u, v, angle = _pose(rng, n)
    creases = (
        sum(
            np.exp(-((_noise(rng, u, v, cell * s) / width) ** 2))
            for cell, width in ((9.0, 0.22), (20.0, 0.16), (4.5, 0.3))
        )
        / 3
    )
    pores = _smoothstep(2.0, 2.6, _noise(rng, u, v, max(1.3 * s, 0.7)))
    height = 0.8 * _noise(rng, u, v, 30 * s) - 2.2 * creases - 1.6 * pores
    gy, gx = np.gradient(cv2.GaussianBlur(height, (0, 0), max(0.8 * s, 0.5)))
    light = rng.uniform(0, 2 * np.pi)
    shade = 1.0 + 0.9 * (np.cos(light) * gx + np.sin(light) * gy) / max(s, 0.25)
    hue = rng.uniform(-1, 1)
    base = np.array([0.50 + 0.05 * hue, 0.31, 0.20 - 0.03 * hue], np.float32) * rng.uniform(0.8, 1.1)
    albedo = 1.0 + 0.06 * _noise(rng, u, v, 60 * s) - 0.18 * creases - 0.35 * pores
    image = base * (albedo * np.clip(shade, 0.6, 1.4))[..., None]
    return _Surface(image, u, v, angle, 20 * s, 0.0)


def _grid(rng: np.random.Generator, n: int) -> _Surface:
    """Woven metal wire mesh in front of a dark, out-of-focus background."""
    s = n / REFERENCE_SIZE
    u, v, angle = _pose(rng, n)
    period = rng.uniform(23, 27) * s
    half = 0.17 * period
    background = 0.14 + 0.035 * _noise(rng, u, v, 30 * s) + 0.01 * _noise(rng, u, v, 3 * s)
    rows, cols = np.floor(v / period + 0.5), np.floor(u / period + 0.5)
    across_row = v - rows * period
    across_col = u - cols * period
    profile_h = np.sqrt(np.clip(1 - (across_row / half) ** 2, 0, 1))
    profile_v = np.sqrt(np.clip(1 - (across_col / half) ** 2, 0, 1))
    weave_h = 0.78 + 0.22 * np.cos(np.pi * (u / period + rows))
    weave_v = 0.78 + 0.22 * np.cos(np.pi * (v / period + cols + 1))
    metal = rng.uniform(0.62, 0.78) * (1 + 0.07 * _noise(rng, u, v, 1.5 * s))
    wire_h = metal * weave_h * (0.55 + 0.45 * profile_h)
    wire_v = metal * weave_v * (0.55 + 0.45 * profile_v)
    alpha_h = _smoothstep(0.0, 0.35, profile_h)
    alpha_v = _smoothstep(0.0, 0.35, profile_v)
    h_on_top = weave_h >= weave_v
    top = np.where(h_on_top, wire_h, wire_v)
    top_alpha = np.where(h_on_top, alpha_h, alpha_v)
    under = np.where(h_on_top, wire_v, wire_h) * 0.75
    under_alpha = np.where(h_on_top, alpha_v, alpha_h)
    gray = background * (1 - under_alpha) + under * under_alpha
    gray = gray * (1 - top_alpha) + top * top_alpha
    tint = np.array([1.0, 1.0, 1.02], np.float32) + rng.normal(0, 0.004, 3).astype(np.float32)
    return _Surface((gray[..., None] * tint).astype(np.float32), u, v, angle, period, half)


def _centre(rng: np.random.Generator, n: int, margin: float) -> np.ndarray:
    return rng.uniform(margin, n - margin, 2).astype(np.float32)


def _blob(
    rng: np.random.Generator, n: int, centre: np.ndarray, radius: float, *, wobble: float, softness: float
) -> np.ndarray:
    """Soft irregular blob: a radius that varies with angle by a few random harmonics."""
    xs, ys = _pixel_grid(n)
    dx, dy = xs - centre[0], ys - centre[1]
    theta = np.arctan2(dy, dx)
    boundary = np.ones_like(theta)
    for harmonic in range(2, 6):
        boundary += wobble / harmonic * rng.uniform(-1, 1) * np.cos(harmonic * theta + rng.uniform(0, 2 * np.pi))
    distance = np.hypot(dx, dy)
    return _smoothstep(-softness, softness, radius * boundary - distance)


def _band_coordinates(
    rng: np.random.Generator, n: int, centre: np.ndarray, bend: float, wave: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along (s) and across (t) a gently curved random line through ``centre``."""
    xs, ys = _pixel_grid(n)
    direction = rng.uniform(0, np.pi)
    dx, dy = xs - centre[0], ys - centre[1]
    along = np.cos(direction) * dx + np.sin(direction) * dy
    across = -np.sin(direction) * dx + np.cos(direction) * dy
    phase = rng.uniform(0, 2 * np.pi)
    across = across - bend * along**2 / n - wave * np.sin(6.0 * along / n + phase)
    return along, across


def _stroke_alpha(rng: np.random.Generator, n: int, length: float, width: float, softness: float) -> np.ndarray:
    centre = _centre(rng, n, 0.2 * n)
    along, across = _band_coordinates(rng, n, centre, rng.uniform(-0.6, 0.6), rng.uniform(0, 0.02 * n))
    ends = _smoothstep(length / 2, length / 2 - max(width, 2.0), np.abs(along))
    return _smoothstep(width / 2 + softness, width / 2 - softness, np.abs(across)) * ends


def _walk(
    rng: np.random.Generator, start: np.ndarray, heading: float, length: float, *, step: float, turn: float
) -> np.ndarray:
    """A random walk polyline whose heading drifts by ``turn`` radians per step."""
    steps = max(int(length / step), 2)
    headings = heading + np.cumsum(rng.normal(0, turn, steps))
    offsets = np.cumsum(np.stack([np.cos(headings), np.sin(headings)], axis=1) * step, axis=0)
    return np.vstack([start, start + offsets]).astype(np.float32)


def _draw_lines(n: int, lines: Sequence[np.ndarray], thickness: int) -> np.ndarray:
    """Anti-aliased polylines as a float alpha in [0, 1]."""
    canvas = np.zeros((n, n), np.uint8)
    fixed = [np.round(line * 16).astype(np.int32).reshape(-1, 1, 2) for line in lines]
    cv2.polylines(canvas, fixed, False, 255, thickness, cv2.LINE_AA, 4)
    return canvas.astype(np.float32) / 255.0


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def _luma(image: np.ndarray) -> np.ndarray:
    return image @ LUMA


def _scale(n: int) -> float:
    return n / REFERENCE_SIZE


# Defect painters: each takes the rng and a surface and returns the defective image and its boolean mask.


def _crack(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Thin dark branching line with a faint light lip."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    length = rng.uniform(0.12, 0.6) * n
    step = 3.0 * s + 0.5
    main = _walk(rng, _centre(rng, n, 0.2 * n), rng.uniform(0, 2 * np.pi), length, step=step, turn=0.12)
    lines = [main]
    for _ in range(rng.integers(1, 4)):
        origin = main[rng.integers(len(main) // 4, len(main))]
        lines.append(
            _walk(rng, origin, rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.5) * length, step=step, turn=0.18)
        )
    jagged = [line + rng.normal(0, 0.2 * step, line.shape).astype(np.float32) for line in lines]
    alpha = _draw_lines(n, jagged, 2 if rng.random() < 0.15 else 1)
    depth = rng.uniform(0.25, 0.65)
    lip = np.roll(alpha, 1, axis=0) * (1 - alpha)
    image = surface.image * (1 - depth * alpha)[..., None] + 0.06 * lip[..., None]
    return image, _grow(alpha > 0.35, 1)


def _glue_strip(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Semi-transparent strip that smooths the speckle, tints it slightly and carries a glossy edge."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    alpha = _stroke_alpha(rng, n, rng.uniform(0.25, 0.9) * n, rng.uniform(5, 30) * s + 2, 1.5 * s + 0.5)
    smooth = cv2.GaussianBlur(surface.image, (0, 0), 3 * s + 0.7)
    tint = np.array([1.03, 1.02, 0.95], np.float32)
    gloss = np.clip(np.roll(alpha, int(2 * s) + 1, axis=1) - alpha, 0, 1)
    strength = rng.uniform(0.45, 0.9)
    image = _blend(surface.image, smooth * tint, strength * alpha) + 0.08 * strength * gloss[..., None]
    return image, alpha > 0.5


def _gray_stroke(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Faint gray marker stroke with streaky coverage, close to the tile's own brightness."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    alpha = _stroke_alpha(rng, n, rng.uniform(0.15, 0.7) * n, rng.uniform(3, 16) * s + 1.5, s + 0.4)
    streaks = 0.75 + 0.25 * _noise(rng, surface.u * 0.2, surface.v * 3.0, 3 * s + 0.5)
    gray = float(np.mean(_luma(surface.image))) * rng.uniform(0.65, 0.9)
    strength = rng.uniform(0.3, 0.7)
    image = _blend(surface.image, gray, strength * np.clip(streaks, 0, 1) * alpha)
    return image, alpha > 0.5


def _oil(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Dark, soft-edged brownish stain with an irregular outline."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    radius = rng.uniform(4, 50) * s + 1.5
    alpha = _blob(rng, n, _centre(rng, n, radius), radius, wobble=0.45, softness=radius * 0.35 + 0.5)
    darkness = rng.uniform(0.08, 0.32)
    stain = surface.image * np.array([0.92, 0.86, 0.8], np.float32) * (1 - darkness)
    image = _blend(surface.image, stain, alpha)
    return image, alpha > 0.5


def _rough(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Patch of coarse grain: speckle flattened and grainy noise added at the same mean brightness."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    radius = rng.uniform(8, 55) * s + 3
    alpha = _blob(rng, n, _centre(rng, n, radius), radius, wobble=0.5, softness=2 * s + 0.5)
    local = cv2.GaussianBlur(surface.image, (0, 0), 4 * s + 0.5)
    grain = _noise(rng, surface.u, surface.v, 1.5 * s + 0.4) + 0.6 * _noise(rng, surface.u, surface.v, 4 * s + 0.5)
    grain *= rng.uniform(0.06, 0.13)
    rough = local + rng.uniform(0.15, 0.5) * (surface.image - local) + grain[..., None] * local
    inside = alpha > 0.5
    rough += surface.image[inside].mean(axis=0) - rough[inside].mean(axis=0)
    return _blend(surface.image, rough, alpha), inside


def _colour(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Hue shift in a soft spot at unchanged luminance, so grain and brightness stay as they were."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    radius = rng.uniform(5, 45) * s + 2
    alpha = _blob(rng, n, _centre(rng, n, radius), radius, wobble=0.4, softness=radius * 0.25 + 0.5)
    palettes = np.array([[0.62, 0.22, 0.25], [0.35, 0.30, 0.42], [0.36, 0.40, 0.22], [0.55, 0.42, 0.18]], np.float32)
    target = palettes[rng.integers(len(palettes))]
    luma = _luma(surface.image)
    recoloured = target / float(target @ LUMA) * luma[..., None]
    return _blend(surface.image, recoloured, rng.uniform(0.3, 0.85) * alpha), alpha > 0.5


def _cut(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Short thin gash: a dark slit with a lit and a shadowed lip."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    length = rng.uniform(0.06, 0.35) * n
    start = _centre(rng, n, 0.15 * n)
    line = _walk(rng, start, rng.uniform(0, 2 * np.pi), length, step=2 * s + 0.5, turn=0.08)
    width = 1 if rng.random() < 0.6 else 2
    slit = _draw_lines(n, [line], width)
    lips = _draw_lines(n, [line], width + 2) - slit
    normal = np.array([np.cos(rng.uniform(0, 2 * np.pi)), np.sin(rng.uniform(0, 2 * np.pi))])
    lit = np.roll(lips, (int(np.sign(normal[1])), int(np.sign(normal[0]))), axis=(0, 1)) * lips
    depth = rng.uniform(0.35, 0.75)
    image = surface.image * (1 - depth * slit - 0.15 * (lips - lit))[..., None] + 0.1 * lit[..., None]
    return image, _grow(slit > 0.35, 1)


def _fold(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Shading ridge: one side lit, the other shadowed, grain compressed along it; mean brightness unchanged."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    centre = _centre(rng, n, 0.25 * n)
    along, across = _band_coordinates(rng, n, centre, rng.uniform(-0.8, 0.8), 0.0)
    length = rng.uniform(0.25, 0.9) * n
    sigma = rng.uniform(2.0, 7.0) * s + 1.0
    window = np.cos(np.clip(along / (length / 2), -1, 1) * np.pi / 2) ** 2
    ridge = across / sigma * np.exp(0.5 - 0.5 * (across / sigma) ** 2) * window
    envelope = np.exp(-0.5 * (across / sigma) ** 2) * window
    blurred = cv2.GaussianBlur(surface.image, (0, 0), 1.2 * s + 0.5)
    image = _blend(surface.image, blurred, 0.6 * envelope) * (1 + rng.uniform(0.12, 0.4) * ridge)[..., None]
    return image, envelope > 0.3


def _glue_blob(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Semi-transparent glossy blob: texture filled in, a tone shift and a specular highlight."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    radius = rng.uniform(4, 40) * s + 2
    centre = _centre(rng, n, radius)
    alpha = _blob(rng, n, centre, radius, wobble=0.35, softness=1.5 * s + 0.5)
    filled = cv2.GaussianBlur(surface.image, (0, 0), 2.5 * s + 0.6)
    tone = float(np.mean(_luma(surface.image))) * rng.uniform(0.7, 1.5)
    glue = 0.6 * filled + 0.4 * tone
    offset = centre + rng.uniform(-0.35, 0.35, 2) * radius
    highlight = _blob(rng, n, offset, radius * 0.35, wobble=0.2, softness=radius * 0.25 + 0.5) * alpha
    image = _blend(surface.image, glue, rng.uniform(0.45, 0.85) * alpha) + 0.15 * highlight[..., None]
    return image, alpha > 0.5


def _poke(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Small puncture: a dark round hole with a lit rim on one side."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    radius = rng.uniform(1.5, 7.0) * s + 1.2
    centre = _centre(rng, n, 3 * radius)
    hole = _blob(rng, n, centre, radius, wobble=0.15, softness=0.7)
    rim = _blob(rng, n, centre, radius * 1.8, wobble=0.15, softness=0.7) - hole
    side = rng.uniform(0, 2 * np.pi)
    xs, ys = _pixel_grid(n)
    facing = np.cos(side) * (xs - centre[0]) + np.sin(side) * (ys - centre[1])
    rim_shade = 0.12 * np.tanh(facing / radius) * rim
    image = surface.image * (1 - rng.uniform(0.45, 0.8) * hole + rim_shade)[..., None]
    return image, hole + rim > 0.5


def _wire_normal(surface: _Surface, horizontal: bool) -> np.ndarray:
    """Pixel-space unit vector across the horizontal (or vertical) wires."""
    angle = surface.angle
    return np.array([-np.sin(angle), np.cos(angle)] if horizontal else [np.cos(angle), np.sin(angle)], np.float32)


def _shifted(image: np.ndarray, field_x: np.ndarray, field_y: np.ndarray) -> np.ndarray:
    xs, ys = _pixel_grid(image.shape[0])
    map_x, map_y = (xs + field_x).astype(np.float32), (ys + field_y).astype(np.float32)
    return cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _bent(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Wires pushed sideways by a local smooth displacement."""
    n = surface.image.shape[0]
    sigma = rng.uniform(0.5, 2.0) * surface.period
    centre = _centre(rng, n, 1.5 * sigma)
    xs, ys = _pixel_grid(n)
    weight = np.exp(-0.5 * ((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / sigma**2)
    push = _wire_normal(surface, rng.random() < 0.5) * rng.uniform(0.3, 0.7) * surface.period * rng.choice([-1, 1])
    image = _shifted(surface.image, push[0] * weight, push[1] * weight)
    moved = weight * float(np.hypot(*push)) > 0.25 * surface.period
    return image, moved


def _broken(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """One to three wire segments missing between crossings, the loose ends bent a little."""
    n, period, half = surface.image.shape[0], surface.period, surface.line_half_width
    horizontal = rng.random() < 0.5
    along, across = (surface.u, surface.v) if horizontal else (surface.v, surface.u)
    centre = _centre(rng, n, 1.5 * period)
    cx, cy = int(centre[0]), int(centre[1])
    wire = np.round(across[cy, cx] / period) * period
    first = np.floor(along[cy, cx] / period) * period + period / 2
    gap = rng.uniform(0.2, 0.55) * period
    segments = rng.integers(1, 4)
    gaps = np.zeros((n, n), bool)
    for index in range(segments):
        gaps |= np.abs(along - first - index * period) < gap / 2
    region = gaps & (np.abs(across - wire) < half + 1.5)
    normal = _wire_normal(surface, horizontal) * period / 2
    hole = _shifted(surface.image, np.full((n, n), normal[0], np.float32), np.full((n, n), normal[1], np.float32))
    soft = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 0.7)
    return _blend(surface.image, hole, soft), _grow(region, 1)


def _metal_particle(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Small shiny particle: an angular fleck with a specular side and a dark edge."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    radius = rng.uniform(2, 9) * s + 1.2
    centre = _centre(rng, n, 2 * radius)
    alpha = _blob(rng, n, centre, radius, wobble=0.9, softness=0.6)
    xs, ys = _pixel_grid(n)
    side = rng.uniform(0, 2 * np.pi)
    facing = (np.cos(side) * (xs - centre[0]) + np.sin(side) * (ys - centre[1])) / radius
    shine = rng.uniform(0.55, 0.95) + 0.3 * np.tanh(2 * facing)
    colour = np.array([1.0, 0.93, 0.82] if rng.random() < 0.4 else [1.0, 1.0, 1.0], np.float32)
    particle = np.clip(shine, 0, 1)[..., None] * colour
    edge = np.clip(_blob(rng, n, centre, radius * 1.35, wobble=0.9, softness=0.6) - alpha, 0, 1)
    image = _blend(surface.image * (1 - 0.5 * edge)[..., None], particle, alpha)
    return image, alpha > 0.5


def _thread(rng: np.random.Generator, surface: _Surface) -> tuple[np.ndarray, np.ndarray]:
    """Long thin fibre lying across the mesh, light or dark, gently curving."""
    n, s = surface.image.shape[0], _scale(surface.image.shape[0])
    line = _walk(
        rng,
        _centre(rng, n, 0.25 * n),
        rng.uniform(0, 2 * np.pi),
        rng.uniform(0.3, 1.0) * n,
        step=3 * s + 0.5,
        turn=0.12,
    )
    alpha = _draw_lines(n, [line], 1) * rng.uniform(0.55, 0.95)
    tone = rng.uniform(0.7, 0.95) if rng.random() < 0.6 else rng.uniform(0.03, 0.12)
    image = _blend(surface.image, tone, alpha)
    return image, _grow(alpha > 0.25, 1)


Painter = Callable[[np.random.Generator, _Surface], tuple[np.ndarray, np.ndarray]]
SURFACES: dict[str, Callable[[np.random.Generator, int], _Surface]] = {
    "tile": _tile,
    "leather": _leather,
    "grid": _grid,
}
PAINTERS: dict[str, dict[str, Painter]] = {
    "tile": {"crack": _crack, "glue_strip": _glue_strip, "gray_stroke": _gray_stroke, "oil": _oil, "rough": _rough},
    "leather": {"color": _colour, "cut": _cut, "fold": _fold, "glue": _glue_blob, "poke": _poke},
    "grid": {
        "bent": _bent,
        "broken": _broken,
        "glue": _glue_blob,
        "metal_contamination": _metal_particle,
        "thread": _thread,
    },
}


def _finish(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Camera effects: a lighting gradient with vignetting and sensor noise, then 8-bit RGB."""
    n = image.shape[0]
    xs, ys = _pixel_grid(n)
    xc, yc = xs / n - 0.5, ys / n - 0.5
    direction = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.22) * (np.cos(direction) * xc + np.sin(direction) * yc)
    light -= rng.uniform(0, 0.12) * (xc**2 + yc**2)
    noisy = image * light[..., None] + rng.uniform(0.006, 0.018) * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.round(noisy * 255), 0, 255).astype(np.uint8)


def render_sample(category: str, split: Split, defect_type: str, index: int, config: SynthConfig) -> SynthSample:
    """One image of ``category`` (and its mask for a defect), drawn from its own seeded random stream."""
    defects = check_category(category)
    if defect_type != NORMAL and (split != "test" or defect_type not in defects):
        raise DatasetError(
            f"cannot render defect {defect_type!r} in {split} for {category}; accepted in test: {', '.join(defects)}"
        )
    stream = (0 if split == "train" else 1) if defect_type == NORMAL else 2 + defects.index(defect_type)
    category_code = list(MVTEC_DEFECTS).index(category)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, category_code, stream, index]))
    surface = SURFACES[category](rng, config.image_size)
    if defect_type == NORMAL:
        return SynthSample(_finish(rng, surface.image), None)
    image, mask = PAINTERS[category][defect_type](rng, surface)
    return SynthSample(_finish(rng, image), np.where(mask, 255, 0).astype(np.uint8))


def _write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG", compress_level=6)


def _prepare_out_root(out_root: Path, categories: Sequence[str]) -> None:
    """Refuse to write into a folder holding other data; clear the old synthetic categories being rewritten."""
    if out_root.exists() and not out_root.is_dir():
        raise DatasetError(f"output {out_root} is a file: expected a folder (new, empty or a synthetic dataset)")
    record = read_dataset_record(out_root) if out_root.is_dir() else None
    if record is None:
        if out_root.is_dir() and any(out_root.iterdir()):
            raise DatasetError(
                f"output {out_root} is not empty and holds no synthetic {DATASET_RECORD}: "
                "expected a new or empty folder, or a dataset written by this generator"
            )
        return
    if record.name != "synthetic":
        raise DatasetError(f"output {out_root} holds dataset {record.name!r}: expected 'synthetic' to overwrite")
    for category in MVTEC_DEFECTS:
        if category in {*categories, *record.categories} and (out_root / category).is_dir():
            shutil.rmtree(out_root / category)
    (out_root / DATASET_RECORD).unlink()


def _write_category(out_root: Path, category: str, config: SynthConfig) -> None:
    for index in range(config.n_train):
        sample = render_sample(category, "train", NORMAL, index, config)
        _write_png(out_root / category / "train" / NORMAL / f"{index:03d}.png", sample.image)
    for defect_type in (NORMAL, *MVTEC_DEFECTS[category]):
        count = config.n_test_good if defect_type == NORMAL else config.n_test_per_defect
        for index in range(count):
            sample = render_sample(category, "test", defect_type, index, config)
            path = out_root / category / "test" / defect_type / f"{index:03d}.png"
            _write_png(path, sample.image)
            if sample.mask is not None:
                _write_png(mask_path_for(out_root, category, defect_type, path), sample.mask)


def generate_dataset(
    out_root: Path, categories: Sequence[str] = SYNTHETIC_CATEGORIES, config: SynthConfig | None = None
) -> DatasetInfo:
    """Write the synthetic dataset in MVTec-AD layout plus ``dataset.json``, and return it opened and checked."""
    config = config or SynthConfig()
    out_root = Path(out_root)
    chosen = tuple(dict.fromkeys(categories))
    unknown = [category for category in chosen if category not in SYNTHETIC_CATEGORIES]
    if not chosen or unknown:
        accepted = ", ".join(SYNTHETIC_CATEGORIES)
        raise DatasetError(f"cannot generate categories {list(categories)}; accepted: {accepted}")
    _prepare_out_root(out_root, chosen)
    fingerprints: dict[str, str] = {}
    for category in chosen:
        _write_category(out_root, category, config)
        fingerprints[category] = category_fingerprint(out_root, category)
    record = {
        "name": "synthetic",
        "version": SYNTH_VERSION,
        "seed": config.seed,
        "config": asdict(config),
        "categories": list(chosen),
        "category_fingerprints": fingerprints,
        "fingerprint": combine_fingerprints(fingerprints),
    }
    (out_root / DATASET_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return open_dataset(out_root, chosen)


def _mask_area(sample: Sample) -> int:
    return int(np.count_nonzero(read_mask(sample.mask_path)))  # type: ignore[arg-type]


def _typical(samples: Sequence[Sample]) -> Sample:
    """The sample of median mask area (the first one for normal images)."""
    if samples[0].mask_path is None:
        return samples[0]
    return sorted(samples, key=_mask_area)[len(samples) // 2]


def _outlined(sample: Sample, cell: int, label: str) -> np.ndarray:
    """A labelled thumbnail; a defect's mask is outlined a few pixels outside it, so the defect stays visible."""
    image = np.array(Image.fromarray(read_rgb(sample.path)).resize((cell, cell), Image.Resampling.BILINEAR))
    if sample.mask_path is not None:
        with Image.open(sample.mask_path) as source:
            mask = np.asarray(source.convert("L").resize((cell, cell), Image.Resampling.NEAREST)) > 127
        contours, _ = cv2.findContours(_grow(mask, 3).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(image, contours, -1, (255, 40, 40), 1, cv2.LINE_AA)
    banner = np.full((18, cell, 3), 30, np.uint8)
    cv2.putText(banner, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([banner, image])


def write_contact_sheet(dataset_root: Path, out_png: Path, cell: int = 160) -> Path:
    """One row per category: a normal test image, then a typical example of each defect type with its mask outlined."""
    info = open_dataset(dataset_root)
    columns = 1 + max(len(MVTEC_DEFECTS[category]) for category in info.categories)
    rows = []
    for category in info.categories:
        test = list_samples(info.root, category, "test")
        cells = []
        for defect_type in (NORMAL, *MVTEC_DEFECTS[category]):
            of_type = [sample for sample in test if sample.defect_type == defect_type]
            if of_type:
                cells.append(_outlined(_typical(of_type), cell, f"{category} / {defect_type}"))
        cells += [np.full_like(cells[0], 255)] * (columns - len(cells))
        rows.append(np.hstack(cells))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(out_png, format="PNG", optimize=True)
    return out_png
