"""Compare ways of leaving normals out of a trained PatchCore run's memory bank before fitting its thresholds.

For each run given, the training and held-out normal images are embedded again with the run's own model, each bank
row is traced back to the training image it came from (its nearest training patch), and every normal is scored
against the bank without: its own rows only (``loo``), the rows of its k nearest training images by descriptor
(``knnK``), or the rows of its k-means group of look-alikes (``groupsK``, what training does with
``LEFT_OUT_GROUPS``). The conformal-quantile threshold of those scores is then judged on the run's stored test results:
false alarms on good test parts against the promise, and image F1 at the threshold.

    python benchmarks/bench_left_out_groups.py RUN_DIR [RUN_DIR ...] [--budgets 0.01 0.05]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.data.category_data import MIN_CALIBRATION_NORMALS
from services.data.datasets import list_samples
from services.data.images import read_rgb
from services.modeling.factory import load_model
from services.modeling.patchcore.left_out import group_images, patch_descriptor, patch_embeddings, score_without
from services.modeling.scoring import rgb_inputs
from services.postprocessing.false_alarm import fit_threshold, promise_holds

HOLDOUT_FRACTION = 0.2
"""The protocol's held-out share (``services.data.protocol.build_protocol_for``), split with the run's seed."""
VARIANTS = ("loo", "knn3", "knn7", "knn15", "groups3", "groups5", "groups8")
Excluded = Callable[[int], set[int]]


def split_normals(root: Path, category: str, seed: int) -> tuple[list[Path], list[Path]]:
    """The run's training and held-out normal images, split as the protocol split them."""
    train = [sample.path for sample in list_samples(root, category, "train")]
    n_holdout = max(MIN_CALIBRATION_NORMALS, round(len(train) * HOLDOUT_FRACTION))
    order = np.random.default_rng(seed).permutation(len(train))
    return [train[i] for i in sorted(order[n_holdout:])], [train[i] for i in sorted(order[:n_holdout])]


def exclusion(name: str, per_image: torch.Tensor, descriptors: np.ndarray, n_train: int, seed: int) -> Excluded:
    """Which training images leave the bank when image ``i`` (training first, then held-out) is scored."""
    if name == "loo":
        return lambda i: {i} if i < n_train else set()
    if name.startswith("knn"):
        k = int(name.removeprefix("knn"))
        distances = np.linalg.norm(descriptors[:, None] - descriptors[None, :n_train], axis=-1)
        return lambda i: set(np.argsort(distances[i])[: k + (i < n_train)].tolist())
    labels, centroids, centre, scale = group_images(per_image[:n_train], int(name.removeprefix("groups")), seed)
    standardised = (torch.as_tensor(descriptors) - centre.double().numpy()) / scale.double().numpy()
    nearest = torch.cdist(standardised, torch.as_tensor(centroids).double()).argmin(dim=1).numpy()
    return lambda i: set(np.flatnonzero(labels == (labels[i] if i < n_train else nearest[i])).tolist())


def measure(run: Path, budgets: list[float]) -> dict[str, dict[str, dict[str, float]]]:
    """Every variant's threshold and what it did on the run's test split, per budget."""
    record = json.loads((run / "metrics.json").read_text())
    train, held_out = split_normals(Path(record["dataset_root"]), record["category"], record["config"]["seed"])
    module = load_model("patchcore", run / "model.ckpt")
    model = module.model
    inputs = rgb_inputs(module, [read_rgb(path) for path in train + held_out])
    embedded = [patch_embeddings(model, batch) for batch in inputs.split(8)]
    per_image, side = torch.cat([batch for batch, _ in embedded]), embedded[0][1]
    size = (int(inputs.shape[-2]), int(inputs.shape[-1]))
    bank, n_train = model.memory_bank, len(train)
    patches = per_image[:n_train].reshape(-1, per_image.shape[-1])
    owner = torch.cat([torch.cdist(rows, patches).argmin(dim=1) for rows in bank.split(512)]) // per_image.shape[1]
    raw_descriptors = torch.stack([patch_descriptor(image) for image in per_image]).double()
    descriptors = (raw_descriptors - raw_descriptors[:n_train].mean(0)) / raw_descriptors[:n_train].std(0)
    with (run / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    defective = np.array([row["gt_label"] not in ("0", "False") for row in rows])
    test_scores = np.array([float(row["raw_score"]) for row in rows])
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in VARIANTS:
        excluded = exclusion(name, per_image, descriptors.numpy(), n_train, record["config"]["seed"])
        scores = []
        for i, image in enumerate(per_image):
            kept = ~torch.isin(owner, torch.tensor(sorted(excluded(i)), dtype=torch.long))
            scored = score_without(model, image, kept, side, size)
            if scored is not None:
                scores.append(scored[0])
        results[name] = {}
        for budget in budgets:
            evidence = fit_threshold(scores, budget, "quantile")
            flagged = test_scores > evidence.threshold
            true, false = int((flagged & defective).sum()), int((flagged & ~defective).sum())
            missed = int((~flagged & defective).sum())
            results[name][str(budget)] = {
                "false_alarms": false,
                "good": int((~defective).sum()),
                "holds": promise_holds(evidence, false, int((~defective).sum())),
                "f1": 2 * true / (2 * true + false + missed) if true else 0.0,
            }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--budgets", nargs="+", type=float, default=[0.01, 0.05])
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    measured = {run: measure(run, args.budgets) for run in args.runs}
    for budget in map(str, args.budgets):
        print(f"\nbudget {budget}\n\n| variant | false alarms | promise holds | mean image F1 at the threshold |")
        print("|---|---|---|---|")
        for name in VARIANTS:
            cells = [results[name][budget] for results in measured.values()]
            false, good = sum(c["false_alarms"] for c in cells), sum(c["good"] for c in cells)
            holds = sum(bool(c["holds"]) for c in cells)
            f1 = np.mean([c["f1"] for c in cells])
            print(f"| {name} | {false}/{good} | {holds}/{len(cells)} | {f1:.3f} |")
        for run, results in measured.items():
            cells = ", ".join(f"{name} {results[name][budget]['false_alarms']}" for name in VARIANTS)
            print(f"\n{run.parent.name}: false alarms {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
