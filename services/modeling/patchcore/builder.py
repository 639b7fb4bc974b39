"""PatchCore's default configuration per profile, and building a fresh model from a configuration."""

from __future__ import annotations

from dataclasses import asdict

from anomalib.models import Patchcore

from services.modeling.backbones import DEFAULT_LAYERS, LoadedWeights, load_pretrained_weights
from services.modeling.model_config import BuiltModel, ModelConfig
from services.modeling.model_table import PATCHCORE
from services.modeling.patchcore.coreset import FastCoresetPatchcore
from services.modeling.patchcore.maps import map_sigma_for
from services.settings import Settings

PROFILES: dict[str, ModelConfig] = {
    # demo: EfficientNet-Lite2 blocks 2+4 at 256 px, coreset 0.1: chosen on the development set and confirmed on the
    # confirmation set with benchmarks/bench_pixel_quality.py for pixel AUROC beside stock anomalib PatchCore; the
    # 512 px input it replaced ranked images better on the synthetic set only (docs/results.md).
    "demo": ModelConfig(
        model=PATCHCORE.name,
        image_size=256,
        backbone="tf_efficientnet_lite2",
        layers=DEFAULT_LAYERS["tf_efficientnet_lite2"],
        coreset_ratio=0.1,
    ),
    "full": ModelConfig(
        model=PATCHCORE.name,
        image_size=256,
        center_crop=224,
        backbone="wide_resnet50_2",
        layers=DEFAULT_LAYERS["wide_resnet50_2"],
        coreset_ratio=0.1,
    ),
}


def build_patchcore(config: ModelConfig, settings: Settings) -> BuiltModel:
    """A PatchCore whose backbone holds its offline ImageNet weights and whose map smoothing follows the input side."""
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
