"""The confirmation set: products cut from real photographs, with defects painted by a method of their own (issue #14).

No rule of the project was tuned on it: the photographs come from Debian's ``plasma-workspace-wallpapers`` package
(:data:`CHOSEN_PHOTOS`), and the defects (``scratch``, ``stain``, ``patch``) are painted here with OpenCV, sharing no
code with :mod:`services.data.synthetic` or :mod:`services.data.pseudo_anomalies`. Each photograph's surface region is
split into disjoint areas with a gap between them, the "parts": training normals are crops of the training areas only,
and normal and defective test images are crops of the other areas, so a test part is never a new crop of a part a
training image came from. Every crop has its own acquisition conditions (rotation and distance, exposure gain, gamma,
colour cast, slight blur and sensor noise), so parts vary as real parts do under a camera. A mask marks the pixels the
defect changed noticeably. ``confirmation.json`` in the root records the photographs (with sha256), the areas and,
for every file, its area, source box and conditions; the same seed writes byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from services.data.datasets import (
    IMAGE_SUFFIXES,
    NORMAL,
    DatasetInfo,
    Sample,
    category_fingerprint,
    combine_fingerprints,
    list_samples,
    mask_path_for,
    mvtec_layout_info,
    read_mask,
    validate_category,
)
from services.data.errors import DatasetError
from services.data.images import ImageInputError, read_rgb

PACKAGE = "plasma-workspace-wallpapers"
PACKAGE_VERSION = "4:5.27.5-2"
"""The Debian package (bookworm) the photographs were chosen from; each file's sha256 is recorded as well."""
CONFIRMATION_VERSION = "1"
RECORD = "confirmation.json"
DEFECT_TYPES = ("scratch", "stain", "patch")
MIN_IMAGE_SIZE = 32
MIN_AREA_SIDE = 48
"""Source pixels the shorter side of every area needs, so a crop holds real detail."""
GAP_FRACTION = 0.02
"""Gap between areas, as a fraction of the region's longer side."""
MAX_ANGLE = 8.0
CHANGE_LEVEL = 10
"""A pixel is part of a defect's mask when some channel changed by more than this (of 255)."""
MIN_MASK_FRACTION = 0.0005
PAINT_ATTEMPTS = 20
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class SourcePhoto:
    """A chosen photograph: wallpaper name, product slug, surface region (fractions x0, y0, x1, y1) and content."""

    wallpaper: str
    product: str
    region: tuple[float, float, float, float]
    content: str


CHOSEN_PHOTOS = (
    SourcePhoto("EveningGlow", "gravel", (0.42, 0.71, 1.0, 1.0), "lake-shore gravel below the rowing boats"),
    SourcePhoto("OneStandsOut", "moss", (0.0, 0.0, 1.0, 0.40), "haircap moss from above, above its one orange plant"),
    SourcePhoto("BytheWater", "planks", (0.30, 0.56, 1.0, 1.0), "weathered deck planks in focus, below the water line"),
    SourcePhoto("Path", "forest_floor", (0.36, 0.72, 1.0, 1.0), "moss and ferns of a spruce forest, right of the path"),
)
"""Real photographs of surfaces in the package (the rest is mostly artwork), regions free of objects and sky."""
DEVELOPMENT_PHOTOS = (
    SourcePhoto("ColdRipple", "pier", (0.10, 0.76, 0.90, 1.0), "grey deck boards of a jetty in fog, near the camera"),
    SourcePhoto("Grey", "facade", (0.20, 0.0, 1.0, 0.70), "woven metal bands of a building facade"),
    SourcePhoto("ColorfulCups", "cups", (0.0, 0.0, 1.0, 1.0), "rows of paper cups seen from above"),
    SourcePhoto("FallenLeaf", "leaves", (0.0, 0.72, 0.55, 1.0), "fallen maple leaves on grass, left of the big leaf"),
)
"""Other photographs of the same package, cut the same way: a development set with the confirmation set's structure
(several crops per part, new parts at test time) for choosing calibration rules, so the confirmation set stays
unseen by them."""
PHOTO_SETS = {"confirmation": CHOSEN_PHOTOS, "development": DEVELOPMENT_PHOTOS}
"""The photo sets by name; no photograph is in two of them."""


@dataclass(frozen=True)
class ConfirmationConfig:
    """Image side, counts, how many areas each photograph is split into and which of them are test areas (the
    chosen photos' regions split 6 x 2, so the default test areas are two per row, apart from each other)."""

    seed: int = 0
    image_size: int = 256
    n_train: int = 80
    n_test_good: int = 24
    n_test_per_defect: int = 10
    n_areas: int = 12
    test_areas: tuple[int, ...] = (1, 4, 6, 9)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise DatasetError(f"confirmation seed must be a non-negative integer, got {self.seed}")
        if self.image_size < MIN_IMAGE_SIZE:
            raise DatasetError(f"confirmation image size must be at least {MIN_IMAGE_SIZE} px, got {self.image_size}")
        for name in ("n_train", "n_test_good", "n_test_per_defect"):
            if getattr(self, name) < 1:
                raise DatasetError(f"confirmation {name} must be at least 1, got {getattr(self, name)}")
        if not self.test_areas or not set(self.test_areas) < set(range(self.n_areas)):
            raise DatasetError(
                f"confirmation test_areas {list(self.test_areas)} must be some, not all, of areas 0..{self.n_areas - 1}"
            )

    @property
    def train_areas(self) -> tuple[int, ...]:
        """The areas training normals are cut from: every area that is not a test area."""
        return tuple(area for area in range(self.n_areas) if area not in self.test_areas)


@dataclass(frozen=True)
class Crop:
    """Where an image came from: its area, the rotated square read (centre, side, angle) and its bounding box."""

    area: int
    centre: tuple[float, float]
    side: float
    angle: float
    box: Box


@dataclass(frozen=True)
class Acquisition:
    """One image's camera conditions: exposure gain, gamma, per-channel colour cast, blur sigma and noise sigma."""

    gain: float
    gamma: float
    cast: tuple[float, float, float]
    blur: float
    noise: float


@dataclass(frozen=True)
class Product:
    """A chosen photograph decoded, with its file, sha256 and the boxes of its areas in source pixels."""

    source: SourcePhoto
    path: Path
    sha256: str
    pixels: np.ndarray
    areas: tuple[Box, ...]


@dataclass(frozen=True)
class ConfirmationImage:
    """One written image: 8-bit pixels, its mask for a defect, and where and how it was taken."""

    image: np.ndarray
    mask: np.ndarray | None
    crop: Crop
    acquisition: Acquisition


@dataclass(frozen=True)
class ConfirmationSet:
    """The written set: the dataset as checked by the readers, its record file and the images per product."""

    info: DatasetInfo
    record: Path
    counts: dict[str, dict[str, int]]


def find_photo(photos: Path, wallpaper: str) -> Path:
    """The largest image of a wallpaper: ``<photos>/<name>/contents/images/<W>x<H>.<ext>`` (Plasma's layout) or
    ``<photos>/<name>.<ext>``."""
    folder = photos / wallpaper / "contents" / "images"
    candidates = sorted(folder.iterdir()) if folder.is_dir() else []
    candidates += sorted(photos.glob(f"{wallpaper}.*"))
    candidates = [path for path in candidates if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    if not candidates:
        raise DatasetError(
            f"no photo of {wallpaper!r} in {photos}: expected {folder}/<W>x<H>.<ext> or {photos / wallpaper}.<ext> "
            f"(from Debian's {PACKAGE}; accepted suffixes: {', '.join(IMAGE_SUFFIXES)})"
        )

    def pixels(path: Path) -> int:
        with Image.open(path) as image:
            return image.width * image.height

    return max(candidates, key=pixels)


def grid_areas(region: Box, n_areas: int) -> tuple[Box, ...]:
    """``n_areas`` disjoint boxes tiling ``region`` row by row with a gap between them, in the grid whose shorter
    area side is longest."""
    x0, y0, x1, y1 = region
    gap = max(2, round(GAP_FRACTION * max(x1 - x0, y1 - y0)))

    def sides(cols: int) -> tuple[float, float]:
        rows = n_areas // cols
        return (x1 - x0 - (cols - 1) * gap) / cols, (y1 - y0 - (rows - 1) * gap) / rows

    cols = max((c for c in range(1, n_areas + 1) if n_areas % c == 0), key=lambda c: min(sides(c)))
    width, height = sides(cols)
    return tuple(
        (
            round(x0 + col * (width + gap)),
            round(y0 + row * (height + gap)),
            round(x0 + col * (width + gap) + width),
            round(y0 + row * (height + gap) + height),
        )
        for row in range(n_areas // cols)
        for col in range(cols)
    )


def _region_box(source: SourcePhoto, width: int, height: int) -> Box:
    fx0, fy0, fx1, fy1 = source.region
    return round(fx0 * width), round(fy0 * height), round(fx1 * width), round(fy1 * height)


def load_product(photos: Path, source: SourcePhoto, n_areas: int) -> Product:
    """A chosen photograph found, decoded and split into areas; raises :class:`DatasetError` when it is missing,
    unreadable or too small for ``n_areas`` areas of :data:`MIN_AREA_SIDE` px."""
    path = find_photo(photos, source.wallpaper)
    try:
        pixels = read_rgb(path)
    except ImageInputError as exc:
        raise DatasetError(f"unreadable photo {path}: {exc}") from exc
    height, width = pixels.shape[:2]
    areas = grid_areas(_region_box(source, width, height), n_areas)
    shortest = min(min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in areas)
    if shortest < MIN_AREA_SIDE:
        raise DatasetError(
            f"photo {path} is {width}x{height} px: too small to split its region {source.region} into {n_areas} "
            f"areas of at least {MIN_AREA_SIDE} px a side (got {shortest} px); use a larger photo or fewer areas"
        )
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return Product(source, path, sha256, pixels, areas)


def draw_crop(rng: np.random.Generator, areas: Sequence[Box], area: int) -> Crop:
    """A rotated square inside one area, at a random place, angle and distance (side 72–86 % of the area's shorter
    side), whose bounding box stays inside the area."""
    x0, y0, x1, y1 = areas[area]
    angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
    side = float(min(x1 - x0, y1 - y0) * rng.uniform(0.72, 0.86))
    half = side * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle)))) / 2
    cx, cy = float(rng.uniform(x0 + half, x1 - half)), float(rng.uniform(y0 + half, y1 - half))
    box = (math.floor(cx - half), math.floor(cy - half), math.ceil(cx + half), math.ceil(cy + half))
    box = (max(box[0], x0), max(box[1], y0), min(box[2], x1), min(box[3], y1))
    return Crop(area, (round(cx, 3), round(cy, 3)), round(side, 3), round(angle, 3), box)


def render_crop(photo: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """The crop's pixels as a float (size, size, 3) image in [0, 1], read from its box only."""
    x0, y0, x1, y1 = crop.box
    patch = photo[y0:y1, x0:x1].astype(np.float32) / 255
    scale, centre = size / crop.side, (crop.centre[0] - x0, crop.centre[1] - y0)
    if scale < 1:  # shrink first with area averaging, so fine texture does not alias
        patch = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        centre, scale = (centre[0] * scale, centre[1] * scale), 1.0
    matrix = cv2.getRotationMatrix2D(centre, crop.angle, scale)
    matrix[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])
    return cv2.warpAffine(patch, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def draw_acquisition(rng: np.random.Generator) -> Acquisition:
    """Camera conditions of one image: ±18 % exposure, gamma 0.85–1.18, ±6 % colour cast, blur in half the images."""
    cast = tuple(round(float(value), 4) for value in rng.uniform(0.94, 1.06, 3))
    blur = float(rng.uniform(0.3, 0.9)) if rng.random() < 0.5 else 0.0
    return Acquisition(
        gain=round(float(rng.uniform(0.82, 1.18)), 4),
        gamma=round(float(rng.uniform(0.85, 1.18)), 4),
        cast=(cast[0], cast[1], cast[2]),
        blur=round(blur, 4),
        noise=round(float(rng.uniform(0.004, 0.015)), 4),
    )


def acquire(part: np.ndarray, acquisition: Acquisition, noise: np.ndarray) -> np.ndarray:
    """A part photographed under ``acquisition`` with a fixed standard-normal ``noise`` field, as 8-bit RGB."""
    image = np.clip(part * acquisition.gain * np.asarray(acquisition.cast, np.float32), 0, 1) ** acquisition.gamma
    if acquisition.blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), acquisition.blur)
    return np.clip(np.round((image + acquisition.noise * noise) * 255), 0, 255).astype(np.uint8)


def _alpha(canvas: np.ndarray) -> np.ndarray:
    return (canvas.astype(np.float32) / 255)[..., None]


def _centre(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.uniform(0.2 * size, 0.8 * size, 2)


def paint_scratch(rng: np.random.Generator, part: np.ndarray, foreign: np.ndarray) -> np.ndarray:
    """A thin anti-aliased, slightly bowed line, light (bare material) or dark, 8–50 % of the side long."""
    size = part.shape[0]
    length, direction = size * rng.uniform(0.08, 0.5), rng.uniform(0, np.pi)
    along, across = np.array([np.cos(direction), np.sin(direction)]), np.array([-np.sin(direction), np.cos(direction)])
    t = np.linspace(-0.5, 0.5, 32)[:, None]
    bow = rng.uniform(-0.12, 0.12) * length * (1 - 4 * t**2)
    points = _centre(rng, size) + t * length * along + bow * across
    canvas = np.zeros((size, size), np.uint8)
    thickness = int(rng.integers(1, 2 + size // 160))
    cv2.polylines(canvas, [np.round(points * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, shift=4)
    tone = 0.95 if rng.random() < 0.6 else 0.06
    alpha = _alpha(canvas) * rng.uniform(0.55, 0.9)
    return part * (1 - alpha) + tone * alpha


def paint_stain(rng: np.random.Generator, part: np.ndarray, foreign: np.ndarray) -> np.ndarray:
    """A soft-edged translucent blob of overlapping ellipses in rust, dark oil or a whitish residue that keeps half
    the texture under it; radius 4–18 % of the side."""
    size = part.shape[0]
    radius, centre = size * rng.uniform(0.04, 0.18), _centre(rng, size)
    canvas = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(3, 6))):
        offset = centre + rng.normal(0, radius * 0.35, 2)
        axes = np.maximum(1, radius * rng.uniform(0.35, 0.8, 2))
        box = ((float(offset[0]), float(offset[1])), (float(2 * axes[0]), float(2 * axes[1])), rng.uniform(0, 180))
        cv2.ellipse(canvas, box, 255, -1, cv2.LINE_AA)
    soft = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), max(1.0, radius * 0.25)) / 255
    colours = ((0.55, 0.3, 0.12), (0.08, 0.07, 0.06), (0.62, 0.7, 0.8))
    colour = np.asarray(colours[int(rng.integers(len(colours)))], np.float32) * rng.uniform(0.9, 1.1, 3)
    alpha = (soft / max(float(soft.max()), 1e-6))[..., None] * rng.uniform(0.45, 0.8)
    return part * (1 - alpha) + (part + colour) / 2 * alpha


def paint_patch(rng: np.random.Generator, part: np.ndarray, foreign: np.ndarray) -> np.ndarray:
    """A polygon of foreign material pasted from a crop of a different photograph, edges feathered by a pixel;
    radius 5–18 % of the side."""
    size = part.shape[0]
    radius, centre = size * rng.uniform(0.05, 0.18), _centre(rng, size)
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
    radii = radius * rng.uniform(0.55, 1.0, angles.size)
    points = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]
    canvas = np.zeros((size, size), np.uint8)
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    alpha = _alpha(cv2.GaussianBlur(canvas, (0, 0), 0.8))
    return part * (1 - alpha) + foreign * alpha


Painter = Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]
PAINTERS: dict[str, Painter] = {"scratch": paint_scratch, "stain": paint_stain, "patch": paint_patch}


def changed_mask(clean: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """Where ``painted`` differs from ``clean`` by more than :data:`CHANGE_LEVEL` in some channel, pinholes closed."""
    changed = np.abs(painted.astype(np.int16) - clean.astype(np.int16)).max(axis=2) > CHANGE_LEVEL
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    return cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0


def _stream(config: ConfirmationConfig, product: int, defect_type: str, split_test: bool, index: int) -> list[int]:
    kind = (1 if split_test else 0) if defect_type == NORMAL else 2 + DEFECT_TYPES.index(defect_type)
    return [config.seed, product, kind, index]


def render_image(
    products: Sequence[Product], product: int, defect_type: str, index: int, config: ConfirmationConfig, *, test: bool
) -> ConfirmationImage:
    """One image of ``products[product]`` (a train normal unless ``test``) from its own seeded random stream."""
    rng = np.random.default_rng(np.random.SeedSequence(_stream(config, product, defect_type, test, index)))
    own = products[product]
    areas = config.test_areas if test else config.train_areas
    crop = draw_crop(rng, own.areas, int(areas[int(rng.integers(len(areas)))]))
    part = render_crop(own.pixels, crop, config.image_size)
    acquisition = draw_acquisition(rng)
    noise = rng.standard_normal(part.shape).astype(np.float32)
    clean = acquire(part, acquisition, noise)
    if defect_type == NORMAL:
        return ConfirmationImage(clean, None, crop, acquisition)
    minimum = max(4, round(MIN_MASK_FRACTION * config.image_size**2))
    for _ in range(PAINT_ATTEMPTS):
        foreign = _foreign(rng, products, product, config.image_size)
        painted = acquire(PAINTERS[defect_type](rng, part, foreign), acquisition, noise)
        mask = changed_mask(clean, painted)
        if np.count_nonzero(mask) >= minimum:
            return ConfirmationImage(painted, np.where(mask, 255, 0).astype(np.uint8), crop, acquisition)
    raise DatasetError(
        f"{defect_type} on {own.source.product} #{index} changed fewer than {minimum} px in {PAINT_ATTEMPTS} tries: "
        f"photo {own.path} is too flat for this defect"
    )


def _foreign(rng: np.random.Generator, products: Sequence[Product], product: int, size: int) -> np.ndarray:
    """A crop of a different photograph (any area), the material a ``patch`` pastes."""
    other = products[(product + 1 + int(rng.integers(len(products) - 1))) % len(products)]
    return render_crop(other.pixels, draw_crop(rng, other.areas, int(rng.integers(len(other.areas)))), size)


def _write_png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG", compress_level=6)


def _file_entry(root: Path, path: Path, split: str, defect_type: str, image: ConfirmationImage) -> dict:
    return {
        "file": path.relative_to(root).as_posix(),
        "split": split,
        "defect_type": defect_type,
        "area": image.crop.area,
        "box": list(image.crop.box),
        "crop": {"centre": list(image.crop.centre), "side": image.crop.side, "angle": image.crop.angle},
        "acquisition": asdict(image.acquisition),
    }


def _write_product(root: Path, products: Sequence[Product], product: int, config: ConfirmationConfig) -> list[dict]:
    """Every image (and mask) of one product; the record's entry of each file."""
    name = products[product].source.product
    plan = [("train", NORMAL, config.n_train), ("test", NORMAL, config.n_test_good)]
    plan += [("test", defect_type, config.n_test_per_defect) for defect_type in DEFECT_TYPES]
    entries = []
    for split, defect_type, count in plan:
        for index in range(count):
            image = render_image(products, product, defect_type, index, config, test=split == "test")
            path = root / name / split / defect_type / f"{index:03d}.png"
            _write_png(path, image.image)
            if image.mask is not None:
                _write_png(mask_path_for(root, name, defect_type, path), image.mask)
            entries.append(_file_entry(root, path, split, defect_type, image))
    return entries


def _prepare_out_root(root: Path) -> None:
    """Refuse a file or a folder holding other data; clear the products of an earlier confirmation set."""
    if root.exists() and not root.is_dir():
        raise DatasetError(f"output {root} is a file: expected a folder (new, empty or a confirmation set)")
    record = root / RECORD
    if record.is_file():
        try:
            old = json.loads(record.read_text())["products"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"unreadable {record}: expected the record of a confirmation set ({exc!r})") from exc
        for entry in old:
            shutil.rmtree(root / str(entry["product"]), ignore_errors=True)
        record.unlink()
    elif root.is_dir() and any(root.iterdir()):
        raise DatasetError(
            f"output {root} is not empty and holds no {RECORD}: expected a new or empty folder, or a confirmation set"
        )


def _product_record(product: Product, config: ConfirmationConfig, fingerprint: str) -> dict:
    return {
        "product": product.source.product,
        "wallpaper": product.source.wallpaper,
        "content": product.source.content,
        "photo": product.path.name,
        "photo_size": [product.pixels.shape[1], product.pixels.shape[0]],
        "photo_sha256": product.sha256,
        "region": list(product.source.region),
        "areas": [list(area) for area in product.areas],
        "train_areas": list(config.train_areas),
        "test_areas": list(config.test_areas),
        "fingerprint": fingerprint,
    }


def build_confirmation_set(
    photos: Path,
    out_root: Path,
    config: ConfirmationConfig | None = None,
    sources: Sequence[SourcePhoto] = CHOSEN_PHOTOS,
    set_name: str = "confirmation",
) -> ConfirmationSet:
    """Write one MVTec-layout product per source photograph under ``out_root`` with ``confirmation.json``, and
    return it checked by the dataset readers; raises :class:`DatasetError` naming a bad input."""
    config = config or ConfirmationConfig()
    photos, out_root = Path(photos), Path(out_root)
    if not photos.is_dir():
        raise DatasetError(f"photos folder {photos} does not exist: expected a folder such as /usr/share/wallpapers")
    if len(sources) < 2 or len({source.product for source in sources}) < len(sources):
        raise DatasetError("expected at least two source photos with distinct product names (patches need another)")
    products = [load_product(photos, source, config.n_areas) for source in sources]
    _prepare_out_root(out_root)
    files: list[dict] = []
    fingerprints: dict[str, str] = {}
    for index, product in enumerate(products):
        files += _write_product(out_root, products, index, config)
        fingerprints[product.source.product] = category_fingerprint(out_root, product.source.product)
    record = {
        "name": set_name,
        "version": CONFIRMATION_VERSION,
        "package": {"name": PACKAGE, "version": PACKAGE_VERSION},
        "config": asdict(config),
        "defect_types": list(DEFECT_TYPES),
        "acquisition": "each image has its own rotation, distance, exposure gain, gamma, colour cast, blur and noise",
        "products": [_product_record(product, config, fingerprints[product.source.product]) for product in products],
        "fingerprint": combine_fingerprints(fingerprints),
        "files": files,
    }
    (out_root / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    names = tuple(fingerprints)
    for name in names:
        validate_category(out_root, name)
    counts = {name: _counts(out_root, name) for name in names}
    return ConfirmationSet(mvtec_layout_info(out_root.resolve(), names), out_root / RECORD, counts)


def _counts(root: Path, product: str) -> dict[str, int]:
    samples = list_samples(root, product, "train") + list_samples(root, product, "test")
    counts: dict[str, int] = {}
    for sample in samples:
        key = f"{sample.split}/{sample.defect_type}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _thumbnail(sample: Sample, cell: int, label: str) -> np.ndarray:
    """A labelled thumbnail; a defect's mask is outlined a few pixels outside it, so the defect itself stays visible."""
    image = np.array(Image.fromarray(read_rgb(sample.path)).resize((cell, cell), Image.Resampling.BILINEAR))
    if sample.mask_path is not None:
        mask = cv2.resize(read_mask(sample.mask_path).astype(np.uint8), (cell, cell), interpolation=cv2.INTER_NEAREST)
        grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
        contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(image, contours, -1, (255, 40, 40), 1, cv2.LINE_AA)
    banner = np.full((18, cell, 3), 30, np.uint8)
    cv2.putText(banner, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([banner, image])


def write_contact_sheet(root: Path, out_png: Path, cell: int = 192) -> Path:
    """One row per product: its first normal test image, then the median-sized example of each defect type."""
    root = Path(root)
    products = [entry["product"] for entry in json.loads((root / RECORD).read_text())["products"]]
    rows = []
    for product in products:
        test = list_samples(root, product, "test")
        cells = [_thumbnail(next(s for s in test if s.defect_type == NORMAL), cell, f"{product} / {NORMAL}")]
        for defect_type in DEFECT_TYPES:
            of_type = sorted(
                (s for s in test if s.defect_type == defect_type),
                key=lambda s: int(np.count_nonzero(read_mask(s.mask_path))),  # type: ignore[arg-type]
            )
            cells.append(_thumbnail(of_type[len(of_type) // 2], cell, f"{product} / {defect_type}"))
        rows.append(np.hstack(cells))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(out_png, format="PNG", optimize=True)
    return out_png
