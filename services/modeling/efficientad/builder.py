"""EfficientAd's default configuration per profile, and building a fresh model from a configuration."""

from __future__ import annotations

from services.modeling.efficientad.model import OfflineEfficientAd
from services.modeling.efficientad.penalty_images import build_penalty_folder
from services.modeling.efficientad.teacher import OFFICIAL_OUT_CHANNELS, TeacherKind, resolve_teacher
from services.modeling.model_config import BuiltModel, ModelConfig, concrete
from services.modeling.model_table import EFFICIENTAD
from services.settings import Settings

PROFILES: dict[str, ModelConfig] = {
    "demo": ModelConfig(model=EFFICIENTAD.name, image_size=256, max_steps=100, bf16_training=True),
    "full": ModelConfig(model=EFFICIENTAD.name, image_size=256, max_steps=70_000),
}


def build_efficientad(config: ModelConfig, settings: Settings) -> BuiltModel:
    """An EfficientAd with the teacher found (or a random one when asked) and the offline penalty images."""
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
