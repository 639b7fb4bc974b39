"""The one table of the models AnomalyLens trains: names, labels, colours, classes, builders and training choices.

Classes, builders and profile configurations are named by ``module:attribute`` path and imported on first use, so
that reading the table (the CLI's ``--models`` choices, chart colours) does not import torch. A new anomalib model is
one entry here plus a builder module holding its ``PROFILES`` and its build function.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from anomalib.models.components.base import AnomalibModule

    from services.modeling.model_config import BuiltModel, ModelConfig
    from services.settings import Settings

PROFILES = ("demo", "full")
"""Benchmark profiles; every model has one default configuration per profile."""

EmbedderKind = Literal["residual", "crop"]
RunNameStyle = Literal["backbone", "teacher"]


def resolve(path: str) -> Any:
    """The object that a ``package.module:attribute`` path names, importing its module."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ModelSpec:
    """One model: how it is named and drawn, which classes implement it, how it is built, trained and searched."""

    name: str
    """Registry name: the run folder level and ``metrics.json``'s ``model``."""
    label: str
    colour: str
    """Its colour in every chart and heading."""
    stock_class: str
    """anomalib's own class, which :attr:`model_class` extends."""
    model_class: str
    """The project's implementation; checkpoints reload with it."""
    builder: str
    """``(ModelConfig, Settings) -> BuiltModel``: a fresh model with its offline pretrained parts loaded."""
    profiles: str
    """``dict[str, ModelConfig]``: the default configuration per profile of :data:`PROFILES`."""
    embedder: EmbedderKind
    """Similar-defect region vectors: residuals in the run's own feature space, or the ImageNet crop embedder."""
    train_batch_size: int
    trains_by_steps: bool
    """Trained for ``max_steps`` optimiser steps and validated once at the last one, instead of one epoch."""
    run_name_style: RunNameStyle
    """Which fields name its runs (see ``services.modeling.model_config.RUN_NAMES``)."""
    uses_teacher: bool
    """Trains against a PDN teacher; its ``teacher="auto"`` resolves to the teacher found."""
    overrides: tuple[str, ...]
    """The ``ModelConfig`` fields that the benchmark command may override for it (``--backbone``, ``--steps``...)."""
    state_signature: str
    """A state-dict key (prefix) that only its checkpoints hold: how an imported checkpoint's model is found."""
    offline_hparams: tuple[tuple[str, Any], ...]
    """Hyper-parameters an imported stock checkpoint gets so that it reloads without downloads."""
    dropped_hparams: tuple[str, ...]
    """Training-only hyper-parameters an imported stock checkpoint loses (they name folders of the other machine)."""
    threshold_rule: str
    """The rule of ``services.postprocessing.false_alarm`` its thresholds are fitted by: the one that held the budget
    on both the development and the confirmation set for this model (docs/results.md)."""

    def load_class(self) -> type[AnomalibModule]:
        """The implementation class (imports it)."""
        return resolve(self.model_class)

    def load_stock_class(self) -> type[AnomalibModule]:
        """anomalib's class (imports it)."""
        return resolve(self.stock_class)

    def build(self, config: ModelConfig, settings: Settings) -> BuiltModel:
        """A fresh, untrained model for ``config``."""
        return resolve(self.builder)(config, settings)

    def profile_configs(self) -> Mapping[str, ModelConfig]:
        """Its default configuration per profile."""
        return resolve(self.profiles)

    def accepted_overrides(self, requested: Mapping[str, Any]) -> dict[str, Any]:
        """The requested overrides that apply to this model, e.g. ``backbone`` for PatchCore only."""
        return {field: value for field, value in requested.items() if field in self.overrides}


PATCHCORE = ModelSpec(
    name="patchcore",
    label="PatchCore",
    colour="#2563eb",
    stock_class="anomalib.models:Patchcore",
    model_class="services.modeling.patchcore.coreset:FastCoresetPatchcore",
    builder="services.modeling.patchcore.builder:build_patchcore",
    profiles="services.modeling.patchcore.builder:PROFILES",
    embedder="residual",
    train_batch_size=8,
    trains_by_steps=False,
    run_name_style="backbone",
    uses_teacher=False,
    overrides=("backbone",),
    state_signature="model.memory_bank",
    offline_hparams=(("pre_trained", False),),
    dropped_hparams=(),
    threshold_rule="quantile",
)
EFFICIENTAD = ModelSpec(
    name="efficientad",
    label="EfficientAd",
    colour="#d97706",
    stock_class="anomalib.models:EfficientAd",
    model_class="services.modeling.efficientad.model:OfflineEfficientAd",
    builder="services.modeling.efficientad.builder:build_efficientad",
    profiles="services.modeling.efficientad.builder:PROFILES",
    embedder="crop",
    train_batch_size=1,
    trains_by_steps=True,
    run_name_style="teacher",
    uses_teacher=True,
    overrides=("max_steps", "teacher"),
    state_signature="model.teacher.",
    offline_hparams=(),
    dropped_hparams=("imagenet_dir",),
    threshold_rule="lognormal",
)

MODEL_TABLE: Mapping[str, ModelSpec] = {spec.name: spec for spec in (PATCHCORE, EFFICIENTAD)}
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_TABLE)
"""Registry names in display order."""


def model_spec(name: str) -> ModelSpec:
    """The table entry of ``name``; a clear error naming the accepted models otherwise."""
    if name not in MODEL_TABLE:
        raise ValueError(f"unknown model {name!r}; accepted: {', '.join(MODEL_NAMES)}")
    return MODEL_TABLE[name]
