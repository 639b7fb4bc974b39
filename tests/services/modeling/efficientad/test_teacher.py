"""Offline teacher distillation writes a loadable PDN, and the teacher is resolved official → distilled → random."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from anomalib.models.image.efficient_ad.torch_model import EfficientAdModel

import services.modeling.efficientad.teacher as teacher_module
from services.data.natural_images import natural_photos, random_crops
from services.modeling.efficientad.teacher import (
    CPU_SCHEDULE,
    FULL_SCHEDULE,
    DistillationTarget,
    TeacherError,
    TeacherKind,
    crops_to_tensor,
    default_schedule,
    distill_teacher,
    distillation_loss,
    new_pdn,
    read_teacher_info,
    resolve_teacher,
    teacher_path,
)
from services.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(registry_dir=tmp_path / "registry", weights_dir=tmp_path / "weights", device="cpu")


@pytest.fixture
def official_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """anomalib's pretrained-weights cache, redirected to an empty temporary folder."""
    cache = tmp_path / "anomalib_cache"
    cache.mkdir()
    monkeypatch.setattr(teacher_module, "get_pretrained_weights_dir", lambda: cache)
    return cache / "efficientad_pretrained_weights"


@pytest.mark.slow
def test_distillation_writes_a_teacher_that_anomalib_loads(settings: Settings, no_network: list[str]) -> None:
    info = distill_teacher(settings, steps=2, image_size=32, batch_size=2, seed=0)
    path = teacher_path(settings)
    assert info.path == str(path) and path.is_file()
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.out_channels == 152  # lite0 blocks.2 (40) + blocks.4 (112)
    assert info.steps == 2 and info.image_size == 32 and info.n_photos == len(natural_photos())
    assert np.isfinite([info.initial_loss, info.final_loss, info.holdout_loss_after]).all()
    assert info.seconds > 0
    recorded = json.loads((path.parent / "teacher.json").read_text())
    assert recorded["sha256"] == info.sha256 and recorded["backbone"] == "tf_efficientnet_lite0"
    assert read_teacher_info(settings) == info
    model = EfficientAdModel(teacher_out_channels=info.out_channels)
    model.teacher.load_state_dict(torch.load(path, weights_only=True))
    assert model.teacher(torch.rand(1, 3, 64, 64)).shape[1] == 152
    assert no_network == []


@pytest.mark.slow
def test_loss_decreases_on_a_fixed_batch() -> None:
    images = crops_to_tensor(random_crops(natural_photos(), 4, 64, np.random.default_rng(0)), "cpu")
    target = DistillationTarget()
    target.fit_normalisation(images)
    pdn = new_pdn(target.out_channels, seed=0)
    optimizer = torch.optim.Adam(pdn.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = distillation_loss(pdn, target, images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_target_is_standardised_on_the_pdn_grid() -> None:
    images = crops_to_tensor(random_crops(natural_photos(), 4, 64, np.random.default_rng(1)), "cpu")
    target = DistillationTarget()
    target.fit_normalisation(images)
    features = target(images)
    assert features.shape == (4, 152, 8, 8)  # stride 8 of the 64 px crop = stride 4 of the PDN's 32 px input
    assert new_pdn(152, seed=0)(images[:, :, ::2, ::2]).shape[-2:] == features.shape[-2:]
    assert abs(features.mean().item()) < 1e-3
    assert features.std(dim=(0, 2, 3)).mean().item() == pytest.approx(1.0, abs=0.05)


def test_pdn_initialisation_is_seeded() -> None:
    first, again, other = new_pdn(8, seed=1), new_pdn(8, seed=1), new_pdn(8, seed=2)
    assert torch.equal(first.conv1.weight, again.conv1.weight)
    assert not torch.equal(first.conv1.weight, other.conv1.weight)


def test_default_schedule_depends_on_device() -> None:
    assert default_schedule("cpu") == CPU_SCHEDULE
    assert default_schedule("cuda:0") == FULL_SCHEDULE
    assert CPU_SCHEDULE.steps * CPU_SCHEDULE.batch_size * CPU_SCHEDULE.image_size**2 < 10_000_000


@pytest.mark.parametrize(
    ("steps", "image_size", "batch_size", "message"),
    [(0, 64, 2, "steps"), (2, 40, 2, "multiple of 16"), (2, 16, 2, "multiple of 16"), (2, 64, 0, "batch size")],
)
def test_bad_schedule_raises(settings: Settings, steps: int, image_size: int, batch_size: int, message: str) -> None:
    with pytest.raises(TeacherError, match=message):
        distill_teacher(settings, steps=steps, image_size=image_size, batch_size=batch_size)
    assert not teacher_path(settings).exists()


def test_resolution_order(settings: Settings, official_dir: Path) -> None:
    assert resolve_teacher(settings).kind is TeacherKind.RANDOM

    distilled = teacher_path(settings)
    distilled.parent.mkdir(parents=True)
    torch.save(new_pdn(16, seed=0).state_dict(), distilled)
    source = resolve_teacher(settings)
    assert (source.kind, source.path, source.out_channels) == (TeacherKind.DISTILLED, distilled, 16)
    assert source.sha256 == hashlib.sha256(distilled.read_bytes()).hexdigest()

    official_dir.mkdir()
    torch.save(new_pdn(24, seed=0).state_dict(), official_dir / "pretrained_teacher_small.pth")
    source = resolve_teacher(settings)
    assert (source.kind, source.out_channels) == (TeacherKind.OFFICIAL, 24)
    assert source.path == official_dir / "pretrained_teacher_small.pth"


def test_random_teacher_is_labelled_as_such(settings: Settings, official_dir: Path) -> None:
    official_dir.mkdir()  # an official folder without the small teacher does not count
    source = resolve_teacher(settings)
    assert source.kind is TeacherKind.RANDOM and source.path is None and source.out_channels == 384
    assert "random" in source.label
    assert source.describe()["kind"] == "random"


def test_corrupt_teacher_file_raises(settings: Settings, official_dir: Path) -> None:
    path = teacher_path(settings)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a state dict")
    with pytest.raises(TeacherError, match="not a PDN-small teacher"):
        resolve_teacher(settings)


def test_benchmark_command_offers_every_teacher_kind() -> None:
    from services.cli.commands import TEACHER_CHOICES, build_parser

    assert set(TEACHER_CHOICES) == {kind.value for kind in TeacherKind}
    args = build_parser().parse_args(["benchmark", "--models", "efficientad", "--teacher", "random"])
    assert args.teacher == "random"
