"""Thresholds fitted to a false-alarm budget from out-of-sample normal scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from services.data.datasets import list_samples
from services.data.images import read_rgb
from services.modeling.factory import build_model, load_model, profile_config
from services.modeling.patchcore.left_out import LEFT_OUT_GROUPS, patch_embeddings
from services.modeling.scoring import Thresholds, rgb_inputs
from services.registry.normal_scores import (
    LEAVE_GROUP_OUT,
    VALIDATION,
    VALIDATION_OUT_OF_GROUP,
    NormalScores,
    fit_calibration,
)
from services.training.calibration import CalibrationError, calibrate, out_of_sample_normals
from services.training.evaluation import score_samples
from tests.conftest import TinyRegistry


@pytest.mark.parametrize("model_name", ["patchcore", "efficientad"])
def test_calibration_sets_the_fitted_thresholds_and_keeps_normalisation(
    tiny_registry: TinyRegistry, model_name: str
) -> None:
    model = load_model(model_name, tiny_registry.runs[model_name].checkpoint)
    before = Thresholds.of(model)
    normals = list_samples(tiny_registry.dataset_root, "tile", "train")[:4]
    calibration, scores = calibrate(model, normals, budget=0.2, rule="max")
    after = Thresholds.of(model)
    assert (after.image, after.pixel) == pytest.approx((calibration.image.threshold, calibration.pixel.threshold))
    assert (after.image_min, after.image_max, after.pixel_min, after.pixel_max) == (
        before.image_min,
        before.image_max,
        before.pixel_min,
        before.pixel_max,
    ), "normalisation statistics stay anomalib's"
    assert scores.sources == {VALIDATION: 4}, "a reloaded model has no groups: validation only, scored as any image"
    scored = score_samples(model, normals).scored
    assert scored.scores.max() == pytest.approx(0.5, abs=1e-5), "rule 'max': the highest normal sits on 0.5"
    assert np.max(scored.maps) == pytest.approx(0.5, abs=1e-5)
    assert calibration.image.n_above == 0 and calibration.image.n_normals == 4


def test_a_stricter_budget_gives_a_higher_threshold(tiny_registry: TinyRegistry) -> None:
    model = load_model("patchcore", tiny_registry.runs["patchcore"].checkpoint)
    normals = list_samples(tiny_registry.dataset_root, "tile", "train")
    scores = out_of_sample_normals(model, normals)
    assert len(scores.image) == len(normals) == 8
    loose, strict = fit_calibration(scores, 0.4, "quantile"), fit_calibration(scores, 0.15, "quantile")
    ordered = sorted(scores.image)
    assert loose.image.threshold == ordered[5], "rank ⌈(1 − 0.4)·9⌉ = 6"
    assert strict.image.threshold == ordered[7], "rank ⌈(1 − 0.15)·9⌉ = 8"
    assert strict.image.threshold > loose.image.threshold
    assert strict.pixel.threshold > loose.pixel.threshold
    assert (strict.image.n_above, loose.image.n_above) == (0, 2)


def test_refuses_no_images_and_anomalous_images(tiny_registry: TinyRegistry) -> None:
    model = load_model("patchcore", tiny_registry.runs["patchcore"].checkpoint)
    with pytest.raises(CalibrationError, match="only normal"):
        out_of_sample_normals(model, [])
    defective = [s for s in list_samples(tiny_registry.dataset_root, "tile", "test") if s.is_anomalous][:1]
    assert defective
    with pytest.raises(CalibrationError, match="only normal"):
        out_of_sample_normals(model, defective)


def test_normal_scores_round_trip_and_refuse_disagreeing_lengths(tmp_path) -> None:
    sources = {LEAVE_GROUP_OUT: 2, VALIDATION: 1}
    scores = NormalScores(image=(1.0, 2.0, 3.0), pixel_peak=(4.0, 5.0, 6.0), sources=sources)
    scores.write(tmp_path)
    assert NormalScores.read(tmp_path) == scores
    assert NormalScores.read(tmp_path / "missing") is None
    with pytest.raises(ValueError, match="disagree"):
        NormalScores(image=(1.0,), pixel_peak=(1.0, 2.0), sources={VALIDATION: 1})


def test_training_images_and_held_out_normals_are_scored_without_their_look_alike_group(
    tiny_registry: TinyRegistry,
) -> None:
    """With the whole bank kept (coreset ratio 1) and one neighbour, a training image's score is the largest distance
    from one of its patches to the nearest patch of an image outside its group: computed here by hand with cdist."""
    from anomalib.engine import Engine

    from services.data.datasets import open_dataset
    from services.data.protocol import ProtocolDataModule, build_protocol

    settings = tiny_registry.settings
    protocol = build_protocol(open_dataset(tiny_registry.dataset_root, ("tile",)), "tile", settings, seed=0)
    config = replace(profile_config("demo", "patchcore", seed=0), image_size=32, coreset_ratio=1.0, num_neighbors=1)
    module = build_model(config, settings).module
    embeddings: list[torch.Tensor] = []
    real_fit = module.fit

    def keep_embeddings() -> None:
        embeddings.append(torch.vstack(module.model.embedding_store).clone())
        real_fit()

    module.fit = keep_embeddings
    engine = Engine(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        default_root_dir=settings.registry_dir / "tmp_loo",
    )
    engine.fit(model=module, datamodule=ProtocolDataModule(protocol, train_batch_size=4, eval_batch_size=4))
    left_out, groups = module.left_out, module.bank_groups
    n_images = len(protocol.train)
    assert left_out is not None and groups is not None
    assert len(left_out.image) == len(left_out.pixel_peak) == n_images
    per_image = embeddings[0].reshape(n_images, -1, embeddings[0].shape[-1])
    image_groups = torch.tensor(groups.image_groups)
    assert len(set(image_groups.tolist())) == min(LEFT_OUT_GROUPS, n_images)
    for image in range(n_images):
        others = per_image[image_groups != image_groups[image]].reshape(-1, per_image.shape[-1])
        expected = torch.cdist(per_image[image], others).min(dim=1).values.max()
        assert left_out.image[image] == pytest.approx(float(expected), rel=1e-4)
    in_bank = score_samples(module, protocol.train[:1]).scored.raw_scores[0]
    assert left_out.image[0] > in_bank, "an image's own patches make it look more normal than a new part"
    scores = out_of_sample_normals(module, protocol.validation_normals)
    n_held = len(protocol.validation_normals)
    assert scores.sources == {LEAVE_GROUP_OUT: n_images, VALIDATION_OUT_OF_GROUP: n_held}
    held_score = scores.image[n_images]
    held_inputs = rgb_inputs(module, [read_rgb(protocol.validation_normals[0].path)])
    held_patches, _ = patch_embeddings(module.model, held_inputs)
    outside = per_image[image_groups != groups.group_of(held_patches[0])].reshape(-1, per_image.shape[-1])
    expected_held = torch.cdist(held_patches[0], outside).min(dim=1).values.max()
    assert held_score == pytest.approx(float(expected_held), rel=1e-4)
    full_bank = score_samples(module, protocol.validation_normals[:1]).scored.raw_scores[0]
    assert held_score >= full_bank - 1e-4, "leaving a group out can only lengthen the nearest-neighbour distances"
