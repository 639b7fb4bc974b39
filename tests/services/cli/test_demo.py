"""The demo-like registry's configurations: the demo profile's, with EfficientAd's training steps capped."""

from __future__ import annotations

from dataclasses import replace

from services.cli.demo import DEMO_PROFILE, DemoSample, sample_configs
from services.modeling.factory import profile_config
from services.modeling.model_table import EFFICIENTAD, MODEL_NAMES, PATCHCORE


def test_every_model_keeps_the_demo_profile_and_only_steps_are_capped() -> None:
    configs = sample_configs(DemoSample(step_limit=7), seed=3)
    assert set(configs) == set(MODEL_NAMES)
    assert configs[PATCHCORE.name] == profile_config(DEMO_PROFILE, PATCHCORE.name, 3)
    demo_efficientad = profile_config(DEMO_PROFILE, EFFICIENTAD.name, 3)
    assert demo_efficientad.max_steps > 7
    assert configs[EFFICIENTAD.name] == replace(demo_efficientad, max_steps=7)


def test_a_step_limit_above_the_demos_keeps_the_demos_steps() -> None:
    demo_steps = profile_config(DEMO_PROFILE, EFFICIENTAD.name, 0).max_steps
    configs = sample_configs(DemoSample(step_limit=demo_steps + 50), seed=0)
    assert configs[EFFICIENTAD.name].max_steps == demo_steps
