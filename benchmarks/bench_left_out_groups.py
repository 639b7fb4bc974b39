"""Compare ways of leaving normals out of a trained PatchCore run's memory bank before fitting its thresholds.

For each run given, the training and held-out normal images are embedded again with the run's own model, each bank
row is traced back to the training image it came from (its nearest training patch), and every normal is scored
against the bank without: its own rows only (``loo``), the rows of its k nearest training images by descriptor
(``knnK``), the rows of its k-means group of look-alikes (``groupsK``, what training does with
``LEFT_OUT_GROUPS``), the rows of its group when images are grouped by where their nearest patches come from
(``matchK``: spectral clustering of "image i's patches find their nearest neighbour in image j"), or — on the photo
sets only, as the reference no user's data offers — the rows of every image cut from the same area of the photograph
(``area``, read from the set's record). The conformal-quantile threshold of those scores is then judged on the run's
stored test results: false alarms on good test parts against the promise, and image F1 at the threshold.

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
from services.data.confirmation import RECORD
from services.data.datasets import list_samples
from services.data.images import read_rgb
from services.modeling.factory import load_model
from services.modeling.patchcore.left_out import group_images, patch_descriptor, patch_embeddings, score_without
from services.modeling.scoring import rgb_inputs
from services.postprocessing.false_alarm import fit_threshold, promise_holds

HOLDOUT_FRACTION = 0.2
"""The protocol's held-out share (``services.data.protocol.build_protocol_for``), split with the run's seed."""
VARIANTS = ("loo", "knn3", "knn7", "knn15", "groups3", "groups5", "groups8", "match3", "match5", "match8", "area")
Excluded = Callable[[int], set[int]]


def split_normals(root: Path, category: str, seed: int) -> tuple[list[Path], list[Path]]:
    """The run's training and held-out normal images, split as the protocol split them."""
    train = [sample.path for sample in list_samples(root, category, "train")]
    n_holdout = max(MIN_CALIBRATION_NORMALS, round(len(train) * HOLDOUT_FRACTION))
    order = np.random.default_rng(seed).permutation(len(train))
    return [train[i] for i in sorted(order[n_holdout:])], [train[i] for i in sorted(order[:n_holdout])]


def match_counts(per_image: torch.Tensor, owner: torch.Tensor, bank: torch.Tensor, n_train: int) -> np.ndarray:
    """For every image (training first, then held-out) and training image j: how many of its patches find their
    nearest bank row among j's rows, its own rows left out."""
    counts = np.zeros((len(per_image), n_train))
    for i, patches in enumerate(per_image):
        distances = torch.cdist(patches, bank)
        if i < n_train:
            distances[:, owner == i] = float("inf")
        counts[i] = np.bincount(owner[distances.argmin(dim=1)].numpy(), minlength=n_train)[:n_train]
    return counts


def match_groups(counts: np.ndarray, n_train: int, n_groups: int, seed: int) -> np.ndarray:
    """Each image's group: training images by spectral clustering of their symmetrised match counts; a held-out
    image joins the group its patches match most."""
    from sklearn.cluster import SpectralClustering

    affinity = counts[:n_train] + counts[:n_train].T + 1e-6
    labels = SpectralClustering(n_groups, affinity="precomputed", random_state=seed).fit_predict(affinity)
    held = [int(np.bincount(labels, weights=row, minlength=n_groups).argmax()) for row in counts[n_train:]]
    return np.concatenate([labels, np.asarray(held, dtype=labels.dtype)])


def photo_areas(run_record: dict, paths: list[Path]) -> np.ndarray | None:
    """The area of the photograph each image was cut from, where the dataset is a photo set; else ``None``."""
    root = Path(run_record["dataset_root"])
    if not (root / RECORD).is_file():
        return None
    areas = {entry["file"]: entry["area"] for entry in json.loads((root / RECORD).read_text())["files"]}
    return np.array([areas[path.relative_to(root).as_posix()] for path in paths])


def exclusion(
    name: str, per_image: torch.Tensor, descriptors: np.ndarray, n_train: int, *, seed: int, links: dict
) -> Excluded | None:
    """Which training images leave the bank when image ``i`` (training first, then held-out) is scored; ``None``
    where the variant does not apply to the run."""
    if name == "area":
        areas = links["areas"]
        return None if areas is None else lambda i: set(np.flatnonzero(areas[:n_train] == areas[i]).tolist())
    if name.startswith("match"):
        labels = match_groups(links["counts"], n_train, int(name.removeprefix("match")), seed)
        return lambda i: set(np.flatnonzero(labels[:n_train] == labels[i]).tolist())
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
    links = {"counts": match_counts(per_image, owner, bank, n_train), "areas": photo_areas(record, train + held_out)}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in VARIANTS:
        excluded = exclusion(name, per_image, descriptors.numpy(), n_train, seed=record["config"]["seed"], links=links)
        if excluded is None:
            continue
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
            cells = [results[name][budget] for results in measured.values() if name in results]
            if not cells:
                continue
            false, good = sum(c["false_alarms"] for c in cells), sum(c["good"] for c in cells)
            holds = sum(bool(c["holds"]) for c in cells)
            f1 = np.mean([c["f1"] for c in cells])
            print(f"| {name} | {false}/{good} | {holds}/{len(cells)} | {f1:.3f} |")
        for run, results in measured.items():
            cells = ", ".join(f"{name} {results[name][budget]['false_alarms']}" for name in VARIANTS if name in results)
            print(f"\n{run.parent.name}: false alarms {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
