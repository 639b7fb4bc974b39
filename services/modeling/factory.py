"""Model configurations, the benchmark profiles, and building or reloading the anomalib models they describe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from anomalib.models import Patchcore
from anomalib.models.components.base import AnomalibModule

from services.modeling.backbones import DEFAULT_LAYERS, LoadedWeights, load_pretrained_weights
from services.modeling.efficientad.model import OfflineEfficientAd
from services.modeling.efficientad.penalty_images import build_penalty_folder
from services.modeling.efficientad.teacher import OFFICIAL_OUT_CHANNELS, TeacherKind, resolve_teacher
from services.modeling.patchcore.coreset import FastCoresetPatchcore
from services.modeling.patchcore.maps import map_sigma_for
from services.settings import Settings

PROFILES = ("demo", "full")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a trained model; the run folder is named after it."""

    model: str
    image_size: int
    backbone: str = "tf_efficientnet_lite0"
    layers: tuple[str, ...] = DEFAULT_LAYERS["tf_efficientnet_lite0"]
    center_crop: int | None = None
    coreset_ratio: float = 0.1
    num_neighbors: int = 9
    model_size: str = "small"
    max_steps: int = 0
    teacher: str = "auto"
    bf16_training: bool = False
    """EfficientAd: train under bf16 autocast where the device computes bf16 natively (inference stays fp32)."""
    seed: int = 0

    def run_name(self) -> str:
        """A name that spells out the configuration, e.g. ``lite0_b2-b4_s256_cs0.1_nn9_seed0``."""
        backbone = self.backbone.removeprefix("tf_efficientnet_").replace("wide_resnet50_2", "wrn50")
        size = f"s{self.image_size}" + (f"c{self.center_crop}" if self.center_crop else "")
        if self.model == "patchcore":
            layers = "-".join(layer.replace("blocks.", "b").replace("layer", "l") for layer in self.layers)
            return f"{backbone}_{layers}_{size}_cs{self.coreset_ratio:g}_nn{self.num_neighbors}_seed{self.seed}"
        precision = "_bf16" if self.bf16_training else ""
        return f"{self.model_size[0].upper()}_t-{self.teacher}_{size}_st{self.max_steps}{precision}_seed{self.seed}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


_PROFILE_CONFIGS: dict[str, dict[str, ModelConfig]] = {
    # demo PatchCore: EfficientNet-Lite2 blocks 2+4 at a 512 px input (the 256 px images upsampled), the coreset ratio
    # lowered to keep the memory bank at its 256 px size, map smoothing scaled with the input (map_sigma_for); chosen
    # with benchmarks/bench_backbones.py for image AUROC at some cost in pixel F1 (docs/results.md).
    "demo": {
        "patchcore": ModelConfig(
            model="patchcore",
            image_size=512,
            backbone="tf_efficientnet_lite2",
            layers=DEFAULT_LAYERS["tf_efficientnet_lite2"],
            coreset_ratio=0.025,
        ),
        "efficientad": ModelConfig(model="efficientad", image_size=256, max_steps=100, bf16_training=True),
    },
    "full": {
        "patchcore": ModelConfig(
            model="patchcore",
            image_size=256,
            center_crop=224,
            backbone="wide_resnet50_2",
            layers=DEFAULT_LAYERS["wide_resnet50_2"],
            coreset_ratio=0.1,
        ),
        "efficientad": ModelConfig(model="efficientad", image_size=256, max_steps=70_000),
    },
}


def profile_config(profile: str, model: str, seed: int, **overrides: Any) -> ModelConfig:
    """The profile's configuration for ``model`` with the seed and any overrides (e.g. ``backbone``) applied."""
    if profile not in _PROFILE_CONFIGS:
        raise ValueError(f"unknown profile {profile!r}; accepted: {', '.join(PROFILES)}")
    if model not in _PROFILE_CONFIGS[profile]:
        raise ValueError(f"unknown model {model!r}; accepted: {', '.join(_PROFILE_CONFIGS[profile])}")
    config = replace(
        _PROFILE_CONFIGS[profile][model], seed=seed, **{k: v for k, v in overrides.items() if v is not None}
    )
    if "backbone" in overrides and overrides["backbone"] and "layers" not in overrides:
        config = replace(config, layers=DEFAULT_LAYERS.get(config.backbone, config.layers))
    return config


@dataclass(frozen=True)
class BuiltModel:
    """A fresh model and where its pretrained parts came from."""

    module: AnomalibModule
    provenance: dict[str, Any]


def _build_patchcore(config: ModelConfig, settings: Settings) -> BuiltModel:
    crop = (config.center_crop, config.center_crop) if config.center_crop else None
    module = FastCoresetPatchcore(
        backbone=config.backbone,
        layers=config.layers,
        pre_trained=False,
        coreset_sampling_ratio=config.coreset_ratio,
        num_neighbors=config.num_neighbors,
        map_sigma=map_sigma_for(config.image_size),
        pre_processor=Patchcore.configure_pre_processor(
            image_size=(config.image_size, config.image_size), center_crop_size=crop
        ),
        visualizer=False,
    )
    weights: LoadedWeights = load_pretrained_weights(
        module.model.feature_extractor.feature_extractor, config.backbone, settings
    )
    provenance = {"backbone_weights": asdict(weights), "map_sigma": module.hparams["map_sigma"]}
    return BuiltModel(module=module, provenance=provenance)


def concrete(config: ModelConfig, settings: Settings) -> ModelConfig:
    """Replace ``teacher="auto"`` by the teacher that will really be used (official, distilled or random)."""
    if config.model != "efficientad" or config.teacher != "auto":
        return config
    return replace(config, teacher=resolve_teacher(settings).kind.value)


def _build_efficientad(config: ModelConfig, settings: Settings) -> BuiltModel:
    config = concrete(config, settings)
    teacher = resolve_teacher(settings)
    if config.teacher not in (TeacherKind.RANDOM.value, teacher.kind.value):
        raise ValueError(f"teacher {config.teacher!r} is not available; found: {teacher.label}")
    use_file = config.teacher != TeacherKind.RANDOM.value
    penalty_dir = build_penalty_folder(settings, seed=config.seed)
    module = OfflineEfficientAd(
        teacher_path=str(teacher.path) if use_file else None,
        bf16_training=config.bf16_training,
        penalty_dir=str(penalty_dir),
        teacher_out_channels=teacher.out_channels if use_file else OFFICIAL_OUT_CHANNELS,
        model_size=config.model_size,
        pre_processor=OfflineEfficientAd.configure_pre_processor(image_size=(config.image_size, config.image_size)),
        visualizer=False,
    )
    provenance = teacher.describe() if use_file else {"kind": "random", "label": "random-init PDN teacher"}
    return BuiltModel(module=module, provenance={"teacher": provenance, "penalty_dir": str(penalty_dir)})


def build_model(config: ModelConfig, settings: Settings) -> BuiltModel:
    """A fresh, untrained model for ``config`` with offline pretrained parts loaded."""
    if config.model == "patchcore":
        return _build_patchcore(config, settings)
    if config.model == "efficientad":
        return _build_efficientad(config, settings)
    raise ValueError(f"unknown model {config.model!r}; accepted: patchcore, efficientad")


MODEL_CLASSES: dict[str, type[AnomalibModule]] = {"patchcore": FastCoresetPatchcore, "efficientad": OfflineEfficientAd}


def load_model(model: str, checkpoint: Path, device: str = "cpu") -> AnomalibModule:
    """Reload a registry checkpoint in eval mode; nothing but the checkpoint file is needed."""
    if model not in MODEL_CLASSES:
        raise ValueError(f"unknown model {model!r}; accepted: {', '.join(MODEL_CLASSES)}")
    module = MODEL_CLASSES[model].load_from_checkpoint(str(checkpoint), map_location=device)
    return module.eval().to(device)
