"""Threshold rules and the evidence of a false-alarm budget, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.postprocessing.false_alarm import (
    FalseAlarmError,
    FalseAlarmEvidence,
    evidence_for,
    fit_threshold,
    observed_interval,
    promise_holds,
)

ONE_TO_NINE = [float(v) for v in range(1, 10)]
ALTERNATING = [9.0, 11.0] * 10  # mean 10, sample standard deviation √(20/19)
T_19_99 = 2.539  # Student's t, 19 degrees of freedom, one-sided 99 % (printed tables)


def test_quantile_rule_takes_the_conformal_rank() -> None:
    evidence = fit_threshold(ONE_TO_NINE, 0.2, "quantile")
    assert evidence.threshold == 8.0, "rank ⌈0.8 · 10⌉ = 8"
    assert (evidence.n_normals, evidence.n_above) == (9, 1)
    assert evidence.expected_rate == pytest.approx(2 / 10)
    assert evidence.floor == pytest.approx(1 / 10)
    assert fit_threshold(ONE_TO_NINE, 0.01, "quantile").threshold == 9.0, "too few normals: the highest"


def test_interval_of_a_threshold_above_every_normal_is_the_minimum_of_uniforms() -> None:
    evidence = evidence_for(ONE_TO_NINE, 9.5, "max", 0.05)
    low, high = evidence.interval
    assert low == pytest.approx(1 - 0.975 ** (1 / 9))
    assert high == pytest.approx(1 - 0.025 ** (1 / 9))
    assert not evidence.enough_normals and evidence.normals_needed == 19
    assert fit_threshold(ONE_TO_NINE, 0.2, "quantile").enough_normals


def test_gaussian_rule_is_the_t_prediction_bound() -> None:
    expected = 10 + T_19_99 * math.sqrt(20 / 19) * math.sqrt(1 + 1 / 20)
    assert fit_threshold(ALTERNATING, 0.01, "gaussian").threshold == pytest.approx(expected, abs=2e-3)
    logs = np.log(ALTERNATING)
    log_bound = logs.mean() + T_19_99 * logs.std(ddof=1) * math.sqrt(1 + 1 / 20)
    assert fit_threshold(ALTERNATING, 0.01, "lognormal").threshold == pytest.approx(math.exp(log_bound), rel=2e-4)


def test_tail_rules_fall_back_when_there_are_too_few_normals() -> None:
    assert fit_threshold(ONE_TO_NINE, 0.05, "gaussian").threshold == 9.0
    assert fit_threshold(ONE_TO_NINE, 0.2, "gpd").threshold == 8.0, "the conformal quantile"


def test_gpd_tail_extrapolates_beyond_the_highest_score_for_a_small_budget() -> None:
    scores = np.random.default_rng(0).exponential(1.0, 400)
    threshold = fit_threshold(scores, 0.001, "gpd").threshold
    assert threshold > scores.max() * 0.8
    assert threshold == pytest.approx(-math.log(0.001), rel=0.25), "exponential tail: the 99.9 % quantile is ln 1000"


@pytest.mark.parametrize("budget", [0, 0.5, -0.1, True, "1%"])
def test_budget_outside_the_accepted_range_is_refused_with_the_rule(budget: object) -> None:
    with pytest.raises(FalseAlarmError, match=r"between 0 and 0\.5"):
        fit_threshold(ONE_TO_NINE, budget, "quantile")  # type: ignore[arg-type]


def test_unknown_rule_and_bad_scores_are_refused() -> None:
    with pytest.raises(FalseAlarmError, match="accepted: max, quantile"):
        fit_threshold(ONE_TO_NINE, 0.01, "median")
    with pytest.raises(FalseAlarmError, match="at least one normal score"):
        fit_threshold([], 0.01, "max")
    with pytest.raises(FalseAlarmError, match="finite"):
        fit_threshold([1.0, float("nan")], 0.01, "max")


def test_observed_interval_and_whether_the_promise_holds() -> None:
    assert observed_interval(0, 10) == (0.0, pytest.approx(1 - 0.025 ** (1 / 10)))
    assert observed_interval(10, 10) == (pytest.approx(0.025 ** (1 / 10)), 1.0)
    promise = FalseAlarmEvidence("quantile", 0.01, 1.0, 59, 0, 1 / 60, (0.0004, 0.05), 1 / 60)
    assert promise_holds(promise, 1, 10), "1 of 10: the interval reaches down to 0.0025"
    assert not promise_holds(promise, 3, 10), "3 of 10: the interval starts at 0.067, above 0.05"
    with pytest.raises(FalseAlarmError, match="not a rate"):
        observed_interval(3, 2)


def test_evidence_round_trips_through_json_fields() -> None:
    evidence = fit_threshold(ONE_TO_NINE, 0.2, "quantile")
    assert FalseAlarmEvidence.from_dict(evidence.as_dict()) == evidence
