"""OfflineEfficientAd trains, validates, tests and reloads without network, with a local or random teacher."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from anomalib.data import MVTecAD
from anomalib.engine import Engine

from services.modeling.efficientad.model import MIN_IMAGE_SIDE, OfflineEfficientAd, OfflineEfficientAdError
from services.modeling.efficientad.penalty_images import build_penalty_folder
from services.modeling.efficientad.teacher import new_pdn
from services.settings import Settings

CHANNELS = 152


@pytest.fixture
def teacher_file(tmp_path: Path) -> Path:
    path = tmp_path / "teacher.pth"
    torch.save(new_pdn(CHANNELS, seed=5).state_dict(), path)
    return path


@pytest.fixture
def penalty_dir(tmp_path: Path) -> Path:
    return build_penalty_folder(Settings(registry_dir=tmp_path / "registry"), n_images=3, size=64, seed=0)


@pytest.fixture
def small_category(tiny_synthetic_root: Path, tmp_path: Path) -> Path:
    """Three training images, two good and two defective test images of ``tile`` (keeps each pass short)."""
    source, target = tiny_synthetic_root / "tile", tmp_path / "data" / "tile"
    train, good = sorted((source / "train" / "good").glob("*.png")), sorted((source / "test" / "good").glob("*.png"))
    chosen = [*train[:3], *good[:2]]
    for defect in sorted(path for path in (source / "test").iterdir() if path.name != "good")[:2]:
        image = sorted(defect.glob("*.png"))[0]
        chosen += [image, source / "ground_truth" / defect.name / f"{image.stem}_mask.png"]
    for path in chosen:
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
    return target.parent


def _model(teacher: Path | None, penalty: Path | None, channels: int = CHANNELS) -> OfflineEfficientAd:
    return OfflineEfficientAd(
        teacher_path=str(teacher) if teacher else None,
        penalty_dir=str(penalty) if penalty else None,
        teacher_out_channels=channels,
        pre_processor=OfflineEfficientAd.configure_pre_processor(image_size=(MIN_IMAGE_SIDE, MIN_IMAGE_SIDE)),
        visualizer=False,
    )


def test_loads_the_teacher_file(teacher_file: Path) -> None:
    model = _model(teacher_file, None)
    model.prepare_pretrained_model()
    expected = torch.load(teacher_file, weights_only=True)
    assert all(torch.equal(value, expected[key]) for key, value in model.model.teacher.state_dict().items())


def test_without_a_teacher_file_keeps_the_random_teacher() -> None:
    model = _model(None, None, channels=384)
    before = {key: value.clone() for key, value in model.model.teacher.state_dict().items()}
    model.prepare_pretrained_model()
    assert all(torch.equal(value, before[key]) for key, value in model.model.teacher.state_dict().items())


def test_teacher_width_mismatch_raises(teacher_file: Path) -> None:
    with pytest.raises(OfflineEfficientAdError, match="teacher_out_channels=384"):
        _model(teacher_file, None, channels=384).prepare_pretrained_model()


def test_missing_teacher_file_raises(tmp_path: Path) -> None:
    with pytest.raises(OfflineEfficientAdError, match="distill-teacher"):
        _model(tmp_path / "absent.pth", None).prepare_pretrained_model()


def test_penalty_folder_is_required_and_never_downloaded(tmp_path: Path, no_network: list[str]) -> None:
    for missing in (None, tmp_path / "absent"):
        with pytest.raises(OfflineEfficientAdError, match="build_penalty_folder"):
            _model(None, missing, channels=384).prepare_imagenette_data((256, 256))
    assert not (tmp_path / "absent").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OfflineEfficientAdError, match="no class folder"):
        _model(None, empty, channels=384).prepare_imagenette_data((256, 256))
    assert no_network == []


def test_penalty_images_use_anomalib_transforms(penalty_dir: Path) -> None:
    model = _model(None, penalty_dir, channels=384)
    model.prepare_imagenette_data((256, 256))
    images, _ = next(model.imagenet_iterator)
    assert images.shape == (1, 3, 256, 256) and images.min() >= 0 and images.max() <= 1


def test_small_images_are_refused(penalty_dir: Path) -> None:
    with pytest.raises(OfflineEfficientAdError, match="at least 256"):
        _model(None, penalty_dir, channels=384).prepare_imagenette_data((128, 128))


def test_unknown_model_size_raises() -> None:
    with pytest.raises(OfflineEfficientAdError, match="small"):
        OfflineEfficientAd(model_size="large")


@pytest.mark.slow
def test_fits_validates_tests_and_reloads_offline(
    small_category: Path, teacher_file: Path, penalty_dir: Path, tmp_path: Path, no_network: list[str]
) -> None:
    model = _model(teacher_file, penalty_dir)
    datamodule = MVTecAD(root=small_category, category="tile", train_batch_size=1, eval_batch_size=4, num_workers=0)
    engine = Engine(
        max_steps=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path / "run"),
    )
    engine.fit(model=model, datamodule=datamodule)
    engine.validate(model=model, datamodule=datamodule, verbose=False)
    metrics = engine.test(model=model, datamodule=datamodule, verbose=False)[0]
    assert {"image_AUROC", "pixel_AUROC"} <= set(metrics)
    assert all(math.isfinite(value) for value in metrics.values())
    assert model.model.is_set(model.model.mean_std) and model.model.is_set(model.model.quantiles)
    assert no_network == []

    checkpoint = tmp_path / "model.ckpt"
    engine.trainer.save_checkpoint(checkpoint)
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)  # plain types only, no allow-list needed
    assert saved["hyper_parameters"]["teacher_path"] == str(teacher_file)
    assert saved["hyper_parameters"]["model_size"] == "small"
    reloaded = OfflineEfficientAd.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    model.eval()
    images = next(iter(datamodule.test_dataloader())).image
    images = torch.nn.functional.interpolate(images, size=(MIN_IMAGE_SIDE, MIN_IMAGE_SIDE), mode="bilinear")
    with torch.no_grad():
        original, restored = model.model(images), reloaded.model(images)
    assert torch.allclose(original.pred_score, restored.pred_score)
    assert torch.allclose(original.anomaly_map, restored.anomaly_map)
    thresholds = {key: value for key, value in model.post_processor.state_dict().items() if "threshold" in key}
    assert thresholds and all(torch.isfinite(value).all() for value in thresholds.values())
    assert all(torch.equal(value, reloaded.post_processor.state_dict()[key]) for key, value in thresholds.items())


@pytest.mark.parametrize(
    ("requested", "native", "expected"), [(True, True, True), (True, False, False), (False, True, False)]
)
def test_training_steps_use_bf16_autocast_only_when_asked_and_native(
    monkeypatch: pytest.MonkeyPatch, requested: bool, native: bool, expected: bool
) -> None:
    from anomalib.models import EfficientAd

    from services.modeling.efficientad import model as efficientad_offline

    seen: list[tuple[bool, torch.dtype]] = []

    def parent_step(self: EfficientAd, batch: object, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return {"loss": torch.zeros(())}

    monkeypatch.setattr(EfficientAd, "training_step", parent_step)
    monkeypatch.setattr(efficientad_offline, "bf16_native", lambda device: native)
    model = OfflineEfficientAd(bf16_training=requested, visualizer=False)
    model.training_step(object())
    assert seen[0][0] is expected
    if expected:
        assert seen[0][1] == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu"), "autocast ends with the step"
    assert OfflineEfficientAd(bf16_training=requested, visualizer=False).hparams["bf16_training"] is requested
