"""Compare threshold rules on trained runs: false alarms on good test parts, F1 at the threshold, regions.

Every rule is fitted to each run's out-of-sample normal scores (``normal_scores.json``: no test image) at each budget;
only then are the run's stored test results read, to count what the threshold does on them. Runs are grouped by
dataset (the synthetic development set, the confirmation set of real photographs, anything else in the registry).

    python benchmarks/bench_threshold_rules.py --registry /path/to/registry [--budgets 0.01 0.05]

Prints one Markdown table per dataset and budget (every rule, every model) and one per-product table for the
default rule.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.modeling.model_table import model_spec
from services.postprocessing.false_alarm import RULES, observed_interval, promise_holds
from services.postprocessing.regions import extract_regions, region_mask
from services.registry import runs as registry
from services.registry.normal_scores import Calibration, NormalScores, fit_calibration
from services.settings import Settings


@dataclass(frozen=True)
class TestResults:
    """What a run stored about its test split: labels, raw image scores, raw map peaks and the normalised maps."""

    labels: np.ndarray
    raw_scores: np.ndarray
    map_peaks: np.ndarray
    maps: np.ndarray
    gt_masks: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """One rule at one budget on one run."""

    good: int
    false_alarms: int
    holds: bool
    f1: float
    f1max: float
    good_with_region: int
    on_mask_regions: int
    off_mask_regions: int
    n_normals: int


def read_test_results(run: registry.Run) -> TestResults:
    """The run's predictions.csv and maps.npz, in the same order."""
    with (run.path / registry.PREDICTIONS).open() as handle:
        rows = list(csv.DictReader(handle))
    stored = np.load(run.path / registry.MAPS)
    width = int(stored["gt_mask_width"])
    return TestResults(
        labels=np.array([row["gt_label"] == "1" for row in rows]),
        raw_scores=np.array([float(row["raw_score"]) for row in rows]),
        map_peaks=np.array([float(row["raw_map_peak"]) for row in rows]),
        maps=stored["maps"].astype(np.float32),
        gt_masks=np.unpackbits(stored["gt_masks"], axis=-1, count=width).astype(bool),
    )


def normalised_pixel_threshold(run: registry.Run, raw: float) -> float:
    """Where a raw pixel threshold falls on the stored maps' scale (anomalib's min-max around the run's threshold)."""
    t = run.record.thresholds
    return float(np.clip((raw - t["pixel"]) / (t["pixel_max"] - t["pixel_min"]) + 0.5, 0.0, 1.0))


def count_regions(run: registry.Run, results: TestResults, pixel_threshold: float) -> tuple[int, int]:
    """Regions on defective test images that touch their ground-truth mask, and those that do not."""
    level = normalised_pixel_threshold(run, pixel_threshold)
    on = off = 0
    for index in np.flatnonzero(results.labels):
        anomaly_map = results.maps[index]
        for region in extract_regions(anomaly_map, anomaly_map > level):
            height, width = anomaly_map.shape
            touches = bool((region_mask(region, height, width) & results.gt_masks[index]).any())
            on, off = on + int(touches), off + int(not touches)
    return on, off


def outcome(run: registry.Run, results: TestResults, calibration: Calibration) -> Outcome:
    """Count what ``calibration``'s thresholds do on the run's test split."""
    good = ~results.labels
    flagged = results.raw_scores > calibration.image.threshold
    false_alarms = int((flagged & good).sum())
    on, off = count_regions(run, results, calibration.pixel.threshold)
    return Outcome(
        good=int(good.sum()),
        false_alarms=false_alarms,
        holds=promise_holds(calibration.image, false_alarms, int(good.sum())),
        f1=float(f1_score(results.labels, flagged, zero_division=0)) if results.labels.any() else float("nan"),
        f1max=float(run.record.metrics.get("image_f1max", float("nan"))),
        good_with_region=int((results.map_peaks[good] > calibration.pixel.threshold).sum()),
        on_mask_regions=on,
        off_mask_regions=off,
        n_normals=calibration.image.n_normals,
    )


def dataset_label(run: registry.Run) -> str:
    """Which set a run belongs to: the synthetic development set, the confirmation set, or its dataset name."""
    if run.record.dataset == "synthetic":
        return "development (synthetic)"
    return "confirmation (real photographs)" if "confirmation" in run.record.dataset_root else run.record.dataset


def _percent(part: int, whole: int) -> str:
    return f"{part}/{whole} ({100 * part / whole:.1f} %)" if whole else "n/a"


def summary_table(outcomes: dict[tuple[str, str], list[Outcome]], budget: float) -> list[str]:
    """One row per (rule, model): totals over the set's products."""
    lines = [
        f"budget {budget:g}",
        "",
        "| rule | model | false alarms on good test parts | promise holds (products) | image F1 at threshold"
        " (mean) | F1Max (mean) | good parts with a region | defect regions on / off mask |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (rule, model), items in outcomes.items():
        good, alarms = sum(o.good for o in items), sum(o.false_alarms for o in items)
        low, high = observed_interval(alarms, good)
        lines.append(
            f"| {rule} | {model} | {_percent(alarms, good)} [95 %: {100 * low:.1f}–{100 * high:.1f} %] | "
            f"{sum(o.holds for o in items)}/{len(items)} | {np.nanmean([o.f1 for o in items]):.3f} | "
            f"{np.nanmean([o.f1max for o in items]):.3f} | {_percent(sum(o.good_with_region for o in items), good)} | "
            f"{sum(o.on_mask_regions for o in items)} / {sum(o.off_mask_regions for o in items)} |"
        )
    return lines


def product_table(rows: list[tuple[registry.Run, Calibration, Outcome]]) -> list[str]:
    """Each model's rule per product: the threshold's evidence beside what happened on the test split."""
    lines = [
        "| model | product | normals (sources) | evidence supports ≤ (95 % interval) | false alarms | holds |"
        " F1 at threshold | F1Max | good parts with a region | regions on / off mask |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run, calibration, result in rows:
        evidence = calibration.image
        low, high = (100 * bound for bound in evidence.interval)
        sources = " + ".join(str(count) for count in calibration.sources.values())
        lines.append(
            f"| {run.record.model} | {run.record.category} | {evidence.n_normals} ({sources}) | "
            f"{100 * evidence.expected_rate:.1f} % ({low:.1f}–{high:.1f} %)"
            f" | {_percent(result.false_alarms, result.good)} | {'yes' if result.holds else 'NO'} | {result.f1:.3f} | "
            f"{result.f1max:.3f} | {_percent(result.good_with_region, result.good)} | "
            f"{result.on_mask_regions} / {result.off_mask_regions} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", required=True, type=Path)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.01, 0.05])
    args = parser.parse_args()
    settings = Settings(registry_dir=args.registry)
    runs = [run for run in registry.latest_runs(settings).values() if NormalScores.read(run.path) is not None]
    if not runs:
        print(f"no run with out-of-sample normal scores under {args.registry}")
        return 2
    for label in sorted({dataset_label(run) for run in runs}):
        chosen = sorted(
            (r for r in runs if dataset_label(r) == label), key=lambda r: (r.record.model, r.record.category)
        )
        tests = {run.path: read_test_results(run) for run in chosen}
        print(f"\n## {label}: {len(chosen)} runs\n")
        for budget in args.budgets:
            outcomes: dict[tuple[str, str], list[Outcome]] = {}
            for rule in RULES:
                for run in chosen:
                    calibration = fit_calibration(NormalScores.read(run.path), budget, rule)  # type: ignore[arg-type]
                    outcomes.setdefault((rule, run.record.model), []).append(outcome(run, tests[run.path], calibration))
            print("\n".join(summary_table(outcomes, budget)) + "\n")
            rows = []
            for run in chosen:
                rule = model_spec(run.record.model).threshold_rule
                calibration = fit_calibration(NormalScores.read(run.path), budget, rule)  # type: ignore[arg-type]
                rows.append((run, calibration, outcome(run, tests[run.path], calibration)))
            print(f"each model's rule (model table), budget {budget:g}, per product:\n")
            print("\n".join(product_table(rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
