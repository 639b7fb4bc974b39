"""A model table entry's configuration per profile, and building or reloading the anomalib model it describes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from anomalib.models.components.base import AnomalibModule

from services.modeling.backbones import DEFAULT_LAYERS
from services.modeling.model_config import BuiltModel, ModelConfig
from services.modeling.model_table import PROFILES, model_spec
from services.modeling.safe_load import refusing_unsafe_globals
from services.settings import Settings


def profile_config(profile: str, model: str, seed: int, **overrides: Any) -> ModelConfig:
    """The profile's configuration for ``model`` with the seed and any overrides (e.g. ``backbone``) applied."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; accepted: {', '.join(PROFILES)}")
    config = replace(
        model_spec(model).profile_configs()[profile],
        seed=seed,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    if "backbone" in overrides and overrides["backbone"] and "layers" not in overrides:
        config = replace(config, layers=DEFAULT_LAYERS.get(config.backbone, config.layers))
    return config


def build_model(config: ModelConfig, settings: Settings) -> BuiltModel:
    """A fresh, untrained model for ``config`` with offline pretrained parts loaded."""
    return model_spec(config.model).build(config, settings)


def load_model(model: str, checkpoint: Path, device: str = "cpu") -> AnomalibModule:
    """Reload a registry checkpoint in eval mode (``weights_only``, anomalib's allow-list plus the model's own types);
    nothing but the checkpoint file is needed."""
    with refusing_unsafe_globals(f"checkpoint {checkpoint}"):
        module = (
            model_spec(model).load_class().load_from_checkpoint(str(checkpoint), map_location=device, weights_only=True)
        )
    return module.eval().to(device)
