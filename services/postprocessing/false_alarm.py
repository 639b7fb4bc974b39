"""Thresholds fitted to a false-alarm budget from out-of-sample normal scores, and what the evidence can promise.

A threshold rule turns the scores of normal images that the model did not learn from (``scores``) and a budget (the
share of good parts allowed to be judged NG) into a threshold. Whatever the rule, the evidence is judged without a
model of the tail: if ``r`` of ``n`` exchangeable normal scores lie above a threshold, the rate at which new normal
parts exceed it is at most Beta(r + 1, n − r) distributed (order statistics), so its mean is at most (r + 1)/(n + 1)
and no rule can support an expected rate below 1/(n + 1) from ``n`` normals alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
"""Two-sided level of every interval shown (the upper bound alone is one-sided at this level)."""
MIN_TAIL_FIT = 10
"""The fewest normal scores a normal or log-normal tail is fitted to; with fewer, those rules take the highest score."""
MIN_GPD_EXCEEDANCES = 15
"""The fewest tail scores a generalised Pareto tail is fitted to; with fewer, that rule takes the conformal quantile."""
GPD_TAIL_SHARE = 0.3
"""The share of the highest normal scores the generalised Pareto tail is fitted to."""


class FalseAlarmError(ValueError):
    """A budget or a score list that no threshold can be fitted to."""


def check_budget(budget: float) -> float:
    """``budget`` when it is a share of good parts strictly between 0 and 0.5; else a clear error."""
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget < 0.5:
        raise FalseAlarmError(
            f"false-alarm budget {budget!r} is not accepted: give the share of good parts that may be judged NG, "
            "a number between 0 and 0.5 (e.g. 0.01 for 1 %)"
        )
    return float(budget)


def _scores(values: Sequence[float]) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).reshape(-1)
    if scores.size == 0 or not np.isfinite(scores).all():
        raise FalseAlarmError("a threshold needs at least one normal score, and only finite ones")
    return scores


def rule_max(scores: np.ndarray, budget: float) -> float:
    """The highest normal score (the former rule: every known-good part passes), whatever the budget."""
    return float(scores.max())


def rule_quantile(scores: np.ndarray, budget: float) -> float:
    """The conformal order statistic: the ⌈(1 − budget)(n + 1)⌉-th smallest score, so a new exchangeable normal
    exceeds it with probability at most ``budget``; the highest score when ``n`` is too small for the budget."""
    rank = math.ceil((1 - budget) * (len(scores) + 1))
    return float(np.sort(scores)[min(rank, len(scores)) - 1])


def rule_gaussian(scores: np.ndarray, budget: float) -> float:
    """Mean + t·σ·√(1 + 1/n): the one-sided normal prediction bound that a new score exceeds with prob. ``budget``."""
    n = len(scores)
    if n < MIN_TAIL_FIT:
        return rule_max(scores, budget)
    return float(scores.mean() + stats.t.ppf(1 - budget, n - 1) * scores.std(ddof=1) * math.sqrt(1 + 1 / n))


def rule_lognormal(scores: np.ndarray, budget: float) -> float:
    """The Gaussian prediction bound on log scores (right-skewed, positive scores); the Gaussian one if any is ≤ 0."""
    if (scores <= 0).any() or len(scores) < MIN_TAIL_FIT:
        return rule_gaussian(scores, budget)
    return float(np.exp(rule_gaussian(np.log(scores), budget)))


def rule_gpd(scores: np.ndarray, budget: float) -> float:
    """Peaks over threshold: a generalised Pareto tail fitted to the highest ``GPD_TAIL_SHARE`` of the scores,
    extrapolated to the budget; the conformal quantile when the tail holds fewer than ``MIN_GPD_EXCEEDANCES`` points."""
    ordered = np.sort(scores)
    u = float(np.quantile(ordered, 1 - GPD_TAIL_SHARE))
    excess = ordered[ordered > u] - u
    share = len(excess) / len(ordered)
    if len(excess) < MIN_GPD_EXCEEDANCES or budget >= share:
        return rule_quantile(scores, budget)
    shape, _, scale = stats.genpareto.fit(excess, floc=0.0)
    return float(u + stats.genpareto.ppf(1 - budget / share, shape, loc=0.0, scale=scale))


RULES: dict[str, Callable[[np.ndarray, float], float]] = {
    "max": rule_max,
    "quantile": rule_quantile,
    "gaussian": rule_gaussian,
    "lognormal": rule_lognormal,
    "gpd": rule_gpd,
}
DEFAULT_RULE = "quantile"
"""The rule runs are calibrated with, chosen by ``benchmarks/bench_threshold_rules.py`` (docs/results.md)."""
RULE_TEXT = {
    "max": "the highest out-of-sample normal score",
    "quantile": "the conformal quantile of the out-of-sample normal scores",
    "gaussian": "mean + t·σ prediction bound of the out-of-sample normal scores",
    "lognormal": "mean + t·σ prediction bound of the log out-of-sample normal scores",
    "gpd": "generalised Pareto tail of the highest out-of-sample normal scores",
}


@dataclass(frozen=True)
class FalseAlarmEvidence:
    """A threshold fitted to a budget, and the false-alarm rate its ``n_normals`` out-of-sample scores support."""

    rule: str
    budget: float
    threshold: float
    n_normals: int
    n_above: int
    """Normal scores strictly above the threshold (they would have been judged NG)."""
    expected_rate: float
    """(n_above + 1)/(n_normals + 1): the most the expected rate on new good parts can be, by order statistics."""
    interval: tuple[float, float]
    """Central ``CONFIDENCE`` interval of the rate on new good parts (Beta(n_above + 1, n_normals − n_above))."""
    floor: float
    """1/(n_normals + 1): the lowest expected rate that this many normals can support without a tail model."""

    @property
    def enough_normals(self) -> bool:
        """Whether the normals alone can support the budget (the floor is within it)."""
        return self.floor <= self.budget

    @property
    def normals_needed(self) -> int:
        """How many out-of-sample normals the budget needs before the evidence alone can support it."""
        return max(1, math.ceil(1 / self.budget) - 1)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields, with the derived ones."""
        return {
            **asdict(self),
            "interval": list(self.interval),
            "enough_normals": self.enough_normals,
            "normals_needed": self.normals_needed,
        }

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> FalseAlarmEvidence:
        """Read back what :meth:`as_dict` wrote."""
        low, high = values["interval"]  # type: ignore[misc]
        names = ("rule", "budget", "threshold", "n_normals", "n_above", "expected_rate", "floor")
        return cls(**{name: values[name] for name in names}, interval=(float(low), float(high)))  # type: ignore[arg-type]


def evidence_for(scores: Sequence[float], threshold: float, rule: str, budget: float) -> FalseAlarmEvidence:
    """What ``scores`` (out-of-sample normals) support about the false-alarm rate of ``threshold``."""
    values = _scores(scores)
    n, above = len(values), int((values > threshold).sum())
    alpha = (1 - CONFIDENCE) / 2
    rate = stats.beta(above + 1, n - above) if above < n else None
    interval = (float(rate.ppf(alpha)), float(rate.ppf(1 - alpha))) if rate else (1.0, 1.0)
    return FalseAlarmEvidence(
        rule=rule,
        budget=budget,
        threshold=float(threshold),
        n_normals=n,
        n_above=above,
        expected_rate=(above + 1) / (n + 1),
        interval=interval,
        floor=1 / (n + 1),
    )


def fit_threshold(scores: Sequence[float], budget: float, rule: str) -> FalseAlarmEvidence:
    """The threshold ``rule`` fits to ``scores`` for ``budget``, with its evidence."""
    if rule not in RULES:
        raise FalseAlarmError(f"unknown threshold rule {rule!r}; accepted: {', '.join(RULES)}")
    values, budget = _scores(scores), check_budget(budget)
    return evidence_for(values, RULES[rule](values, budget), rule, budget)


def observed_interval(false_alarms: int, good_parts: int) -> tuple[float, float]:
    """Clopper–Pearson ``CONFIDENCE`` interval of a false-alarm rate observed on ``good_parts`` good parts."""
    if good_parts <= 0 or not 0 <= false_alarms <= good_parts:
        raise FalseAlarmError(f"{false_alarms} false alarms on {good_parts} good parts is not a rate")
    alpha = (1 - CONFIDENCE) / 2
    low = 0.0 if false_alarms == 0 else float(stats.beta.ppf(alpha, false_alarms, good_parts - false_alarms + 1))
    high = (
        1.0
        if false_alarms == good_parts
        else float(stats.beta.ppf(1 - alpha, false_alarms + 1, good_parts - false_alarms))
    )
    return low, high


def promise_holds(evidence: FalseAlarmEvidence, false_alarms: int, good_parts: int) -> bool:
    """Whether an observed rate is consistent with the promise: its interval reaches below the larger of the budget
    and the evidence's upper bound (what the normals could support)."""
    return observed_interval(false_alarms, good_parts)[0] <= max(evidence.budget, evidence.interval[1])
