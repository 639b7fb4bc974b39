"""A model's configuration, which names its run folder, and the fresh model that a builder returns for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from anomalib.models.components.base import AnomalibModule

from services.modeling.backbones import DEFAULT_LAYERS
from services.modeling.efficientad.teacher import resolve_teacher
from services.modeling.model_table import RunNameStyle, model_spec
from services.settings import Settings


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
        """A name that spells out the configuration, in its model's run-name style (:data:`RUN_NAMES`)."""
        return RUN_NAMES[model_spec(self.model).run_name_style](self)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _size(config: ModelConfig) -> str:
    return f"s{config.image_size}" + (f"c{config.center_crop}" if config.center_crop else "")


def backbone_run_name(config: ModelConfig) -> str:
    """Backbone, layers, input, coreset ratio, neighbours and seed, e.g. ``lite0_b2-b4_s256_cs0.1_nn9_seed0``."""
    backbone = config.backbone.removeprefix("tf_efficientnet_").replace("wide_resnet50_2", "wrn50")
    layers = "-".join(layer.replace("blocks.", "b").replace("layer", "l") for layer in config.layers)
    return f"{backbone}_{layers}_{_size(config)}_cs{config.coreset_ratio:g}_nn{config.num_neighbors}_seed{config.seed}"


def teacher_run_name(config: ModelConfig) -> str:
    """Network size, teacher, input, steps, precision and seed, e.g. ``S_t-distilled_s256_st100_bf16_seed0``."""
    precision = "_bf16" if config.bf16_training else ""
    return (
        f"{config.model_size[0].upper()}_t-{config.teacher}_{_size(config)}_st{config.max_steps}{precision}"
        f"_seed{config.seed}"
    )


RUN_NAMES: dict[RunNameStyle, Callable[[ModelConfig], str]] = {
    "backbone": backbone_run_name,
    "teacher": teacher_run_name,
}


def concrete(config: ModelConfig, settings: Settings) -> ModelConfig:
    """Replace ``teacher="auto"`` by the teacher that will really be used (official, distilled or random)."""
    if not model_spec(config.model).uses_teacher or config.teacher != "auto":
        return config
    return replace(config, teacher=resolve_teacher(settings).kind.value)


@dataclass(frozen=True)
class BuiltModel:
    """A fresh model and where its pretrained parts came from."""

    module: AnomalibModule
    provenance: dict[str, Any]
