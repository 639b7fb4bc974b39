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
    # demo PatchCore: EfficientNet-Lite2 blocks 2+4, chosen with benchmarks/bench_backbones.py on the synthetic data
    # (mean image AUROC over tile/leather/grid at 256 px: lite0 0.863, lite1 0.862, lite2 0.910; adding the stride-4
    # blocks.1 lowered tile to 0.78). Input side 512 px (the 256 px images upsampled) with the coreset ratio lowered to
    # 0.025 to keep the memory bank at its 256 px size, and the map smoothing scaled with the input (map_sigma_for).
    # Pipeline figures, 256 px / 10 % -> 512 px / 2.5 %: image AUROC tile 0.858 -> 0.923, leather 0.966 -> 0.922,
    # grid 0.887 -> 0.961 (mean 0.904 -> 0.935), AUPRO 0.840 -> 0.903, but pixel AUROC 0.971 -> 0.966, pixel F1 at
    # the calibrated threshold 0.613 -> 0.520 and region retrieval P@5 0.647 -> 0.573 (without the scaled smoothing:
    # 0.959, 0.451, 0.547). Input sides measured on the same bank size (mean image AUROC, anomalib's image score):
    # 256 px 0.887, 320 px 0.880, 384 px 0.920, 448 px 0.923, 512 px 0.935; 640 px was worse on tile and leather.
    "demo": ModelConfig(
        model=PATCHCORE.name,
        image_size=512,
        backbone="tf_efficientnet_lite2",
        layers=DEFAULT_LAYERS["tf_efficientnet_lite2"],
        coreset_ratio=0.025,
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
