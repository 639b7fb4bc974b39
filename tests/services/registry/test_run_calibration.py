"""A run's calibration at any budget and its normalised thresholds, with hand-computed values."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services.postprocessing.false_alarm import fit_threshold
from services.registry.normal_scores import LEAVE_GROUP_OUT, VALIDATION, NormalScores, fit_calibration
from services.registry.run_calibration import (
    FORMER_RULE,
    IMPORTED,
    calibration_status,
    normalised,
    rate_text,
    run_calibration,
    sources_text,
    too_few_text,
)
from services.registry.runs import Run
from tests.fake_runs import record, write_run

# quantile rule on 9 normals: budget 0.2 → rank ⌈0.8 · 10⌉ = 8, budget 0.1 → rank ⌈0.9 · 10⌉ = 9
SCORES = NormalScores(
    image=(2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0),
    pixel_peak=(12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 20.0, 36.0),
    sources={VALIDATION: 9},
)
STORED = {"image": 10.0, "image_min": 0.0, "image_max": 8.0, "pixel": 20.0, "pixel_min": 0.0, "pixel_max": 40.0}


def _run(tmp_path: Path, *, rule: str = "quantile", scores: bool = True, **fields: object) -> Run:
    protocol = {"calibration": fit_calibration(SCORES, 0.2, rule).as_dict()}
    run = write_run(tmp_path, replace(record("tile"), thresholds=STORED, protocol=protocol, **fields))
    if scores:
        SCORES.write(run.path)
    return run


def test_the_stored_budget_gives_the_stored_calibration_at_one_half(tmp_path: Path) -> None:
    run = _run(tmp_path)
    judged = run_calibration(run, 0.2)
    assert judged is not None
    assert judged.calibration == fit_calibration(SCORES, 0.2)
    assert (judged.calibration.image.threshold, judged.calibration.pixel.threshold) == (10.0, 20.0)
    assert (judged.image_threshold, judged.pixel_threshold) == (0.5, 0.5)
    assert calibration_status(run) == ""


def test_another_budget_is_refitted_and_normalised_image_and_pixel_apart(tmp_path: Path) -> None:
    judged = run_calibration(_run(tmp_path), 0.1)
    assert judged is not None
    assert judged.calibration.image.budget == 0.1
    assert (judged.calibration.image.threshold, judged.calibration.pixel.threshold) == (12.0, 36.0)
    assert judged.image_threshold == pytest.approx(0.75), "(12 − 10)/(8 − 0) + 0.5"
    assert judged.pixel_threshold == pytest.approx(0.9), "(36 − 20)/(40 − 0) + 0.5"


def test_a_refit_keeps_the_runs_rule(tmp_path: Path) -> None:
    judged = run_calibration(_run(tmp_path, rule="max"), 0.3)
    assert judged is not None
    assert judged.calibration.image.rule == "max"
    assert judged.calibration.image.threshold == 12.0, "the quantile rule would give rank ⌈0.7 · 10⌉ = 7: 8"


def test_normalised_thresholds_are_clipped_to_the_scale() -> None:
    assert normalised(100.0, 10.0, 0.0, 8.0) == 1.0
    assert normalised(-100.0, 10.0, 0.0, 8.0) == 0.0
    assert normalised(6.0, 10.0, 0.0, 8.0) == 0.0, "(6 − 10)/8 + 0.5 = 0"
    assert normalised(11.0, 10.0, 5.0, 5.0) == 1.0, "a degenerate scale: above or below the threshold"


def test_a_run_of_the_former_rule_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path, replace(record("tile"), thresholds=STORED, protocol={"thresholds": "validation max"}))
    assert run_calibration(run, 0.01) is None
    assert calibration_status(run) == FORMER_RULE


def test_an_imported_run_keeps_its_own_threshold(tmp_path: Path) -> None:
    run = write_run(tmp_path, replace(record("tile"), source={"format": "ckpt"}))
    assert run_calibration(run, 0.01) is None
    assert calibration_status(run) == IMPORTED


def test_without_its_normal_scores_only_the_stored_budget_applies(tmp_path: Path) -> None:
    run = _run(tmp_path, scores=False)
    assert run_calibration(run, 0.1) is None
    stored = run_calibration(run, 0.2)
    assert stored is not None and stored.image_threshold == 0.5
    assert calibration_status(run).startswith("fitted to a 20 % false-alarm budget; its normal scores")


def test_evidence_texts_name_the_bound_its_interval_and_what_too_few_normals_need() -> None:
    evidence = fit_threshold([float(i) for i in range(60)], 0.01, "quantile")
    assert evidence.n_above == 0 and not evidence.enough_normals
    assert rate_text(evidence) == "≤ 1.6 % (95 %: 0.042–6 %)", "1/61; Beta(1, 60) quantiles 0.025 and 0.975"
    assert too_few_text(evidence) == (
        "With 60 normal images no rule can promise less than 1/(60+1) = 1.6 %; a 1 % budget needs ≥ 99."
    )
    assert sources_text({LEAVE_GROUP_OUT: 48, VALIDATION: 12}) == (
        "48 training images scored without their look-alike group + 12 held-out validation normals"
    )
