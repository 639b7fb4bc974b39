"""The model table: every entry resolves, run names stay as they were, and every caller reads the models from it."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from components.shared.run_card import backbone_text
from components.shared.style import NORMAL_COLOUR, model_colour, model_label, model_rgb
from services.modeling.factory import load_model, profile_config
from services.modeling.model_config import ModelConfig
from services.modeling.model_table import (
    EFFICIENTAD,
    MODEL_NAMES,
    MODEL_TABLE,
    PATCHCORE,
    PROFILES,
    ModelSpec,
    model_spec,
    resolve,
)
from services.registry.reference import REFERENCE_ROWS
from services.settings import PROJECT_ROOT

UNKNOWN = "unknown model 'padim'; accepted: patchcore, efficientad"


@pytest.mark.parametrize("spec", MODEL_TABLE.values(), ids=MODEL_NAMES)
def test_every_entry_resolves_its_classes_builder_and_profiles(spec: ModelSpec) -> None:
    assert issubclass(spec.load_class(), spec.load_stock_class())
    assert callable(resolve(spec.builder))
    configs = spec.profile_configs()
    assert tuple(configs) == PROFILES
    assert all(isinstance(config, ModelConfig) and config.model == spec.name for config in configs.values())


def test_names_labels_and_colours() -> None:
    assert MODEL_NAMES == ("patchcore", "efficientad")
    assert [(spec.label, spec.colour) for spec in MODEL_TABLE.values()] == [
        ("PatchCore", "#2563eb"),
        ("EfficientAd", "#d97706"),
    ]


def test_demo_run_names_name_their_configuration() -> None:
    patchcore = profile_config("demo", PATCHCORE.name, seed=0)
    efficientad = replace(profile_config("demo", EFFICIENTAD.name, seed=0), teacher="distilled")
    assert patchcore.run_name() == "lite2_b2-b4_s256_cs0.1_nn9_seed0"
    assert efficientad.run_name() == "S_t-distilled_s256_st100_bf16_seed0"


def test_full_run_names_are_unchanged() -> None:
    assert profile_config("full", PATCHCORE.name, seed=1).run_name() == "wrn50_l2-l3_s256c224_cs0.1_nn9_seed1"
    assert profile_config("full", EFFICIENTAD.name, seed=0).run_name() == "S_t-auto_s256_st70000_seed0"


def test_unknown_model_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=re.escape(UNKNOWN)):
        model_spec("padim")
    with pytest.raises(ValueError, match=re.escape(UNKNOWN)):
        profile_config("demo", "padim", seed=0)
    with pytest.raises(ValueError, match=re.escape(UNKNOWN)):
        load_model("padim", Path("model.ckpt"))
    with pytest.raises(ValueError, match=re.escape(UNKNOWN)):
        ModelConfig(model="padim", image_size=64).run_name()


def test_unknown_profile_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown profile 'tiny'; accepted: demo, full")):
        profile_config("tiny", PATCHCORE.name, seed=0)


def test_each_model_takes_only_its_own_command_line_overrides() -> None:
    requested = {"backbone": "tf_efficientnet_lite1", "max_steps": 5, "teacher": "random"}
    patchcore = profile_config("demo", PATCHCORE.name, 0, **PATCHCORE.accepted_overrides(requested))
    efficientad = profile_config("demo", EFFICIENTAD.name, 0, **EFFICIENTAD.accepted_overrides(requested))
    assert (patchcore.backbone, patchcore.max_steps, patchcore.teacher) == ("tf_efficientnet_lite1", 0, "auto")
    assert patchcore.run_name() == "lite1_b2-b4_s256_cs0.1_nn9_seed0"
    assert (efficientad.backbone, efficientad.max_steps, efficientad.teacher) == ("tf_efficientnet_lite0", 5, "random")


def test_style_reads_labels_and_colours_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (model_label(PATCHCORE.name), model_colour(PATCHCORE.name)) == ("PatchCore", "#2563eb")
    assert model_rgb(EFFICIENTAD.name) == (0xD9, 0x77, 0x06)
    monkeypatch.setitem(MODEL_TABLE, "padim", replace(PATCHCORE, name="padim", label="PaDiM", colour="#16a34a"))
    assert (model_label("padim"), model_rgb("padim")) == ("PaDiM", (0x16, 0xA3, 0x4A))
    assert (model_label("other"), model_colour("other")) == ("other", NORMAL_COLOUR)


def test_run_card_names_a_backbone_or_a_teacher() -> None:
    efficientad = SimpleNamespace(
        model=EFFICIENTAD.name, config={"model_size": "small", "teacher": {"kind": "official"}}
    )
    patchcore = SimpleNamespace(model=PATCHCORE.name, config={"backbone": "tf_efficientnet_lite2"})
    assert backbone_text(efficientad) == "PDN-S, official teacher"  # type: ignore[arg-type]
    assert backbone_text(patchcore) == "tf_efficientnet_lite2"  # type: ignore[arg-type]


def test_reference_rows_name_models_of_the_table() -> None:
    assert [row.model for row in REFERENCE_ROWS] == ["patchcore", "efficientad", "patchcore", "efficientad"]


def test_the_table_and_the_command_line_parser_import_without_torch() -> None:
    code = "import sys, services.cli.commands; assert 'torch' not in sys.modules, 'torch imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_no_other_module_spells_a_model_name() -> None:
    quoted = re.compile("[\"'](?:" + "|".join(MODEL_NAMES) + ")[\"']")
    table = PROJECT_ROOT / "services" / "modeling" / "model_table.py"
    sources = [path for folder in ("services", "components", "pages") for path in (PROJECT_ROOT / folder).rglob("*.py")]
    offenders = [str(path) for path in sources if path != table and quoted.search(path.read_text())]
    assert sources and not offenders


@pytest.mark.parametrize("spec", MODEL_TABLE.values(), ids=MODEL_NAMES)
def test_every_model_names_a_known_threshold_rule(spec: ModelSpec) -> None:
    from services.postprocessing.false_alarm import RULES

    assert spec.threshold_rule in RULES
