"""PatchCore coreset selection: anomalib's ``KCenterGreedy`` against
``services.modeling.patchcore.coreset.k_center_greedy``.

Usage: ``TQDM_DISABLE=1 python benchmarks/bench_coreset.py --category tile [--ratios 0.1 0.01] [--repeats 3]``
(``python -m benchmarks.bench_coreset`` works too; ``TQDM_DISABLE=1`` silences anomalib's per-step progress bar).

One run: the synthetic category is generated into a temporary folder, the demo-profile PatchCore is built
(``services.modeling.factory``; its backbone, layers and input size are printed) and the training patch features are
extracted once. For each ratio every selection runs on those same features, repeats interleaved
(the first method rotates) with seeds ``seed + repeat``: anomalib's, the project's, and the project's with torch's
own CPU thread count. Then every repeat's memory bank of anomalib and of the project is scored on the same test
split (``services.training.evaluation``; AUROC comes from raw scores, so no validation pass is needed) and its
coverage of all training features is measured in the original feature space; the table gives mean [min, max] over
repeats.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from anomalib.models import Patchcore

    from services.data.datasets import Sample
    from services.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COVERAGE_CHUNK = 4096

Selector = Callable[[torch.Tensor, float, int], torch.Tensor]


@dataclass(frozen=True)
class SelectionRuns:
    """Wall times and selected indices of one selection method, one entry per repeat."""

    seconds: tuple[float, ...]
    indices: tuple[torch.Tensor, ...]

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(self.seconds)


def anomalib_selection(features: torch.Tensor, ratio: float, seed: int) -> torch.Tensor:
    """anomalib 2.7's own coreset step, seeded the way ``lightning.seed_everything`` would seed it."""
    from anomalib.models.components import KCenterGreedy

    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.tensor(KCenterGreedy(embedding=features, sampling_ratio=ratio).select_coreset_idxs())


def fast_selection(features: torch.Tensor, ratio: float, seed: int) -> torch.Tensor:
    """The project's coreset step as PatchCore runs it (one CPU thread for the greedy loop)."""
    from services.modeling.patchcore.coreset import k_center_greedy

    return k_center_greedy(features, ratio, seed=seed)


def fast_selection_torch_threads(features: torch.Tensor, ratio: float, seed: int) -> torch.Tensor:
    """The project's coreset step with torch's own CPU thread count for the greedy loop."""
    from services.modeling.patchcore.coreset import k_center_greedy

    return k_center_greedy(features, ratio, seed=seed, num_threads=None)


BASELINE, FAST = "anomalib KCenterGreedy", "services.modeling.patchcore.coreset"
FAST_THREADED = "services (torch threads)"
METHODS: dict[str, Selector] = {
    BASELINE: anomalib_selection,
    FAST: fast_selection,
    FAST_THREADED: fast_selection_torch_threads,
}


def extract_features(
    model: Patchcore, samples: Sequence[Sample], settings: Settings, batch_size: int = 8
) -> torch.Tensor:
    """PatchCore's training patch embeddings (N × D) for ``samples``, as its training pass computes them."""
    from services.data.images import load_image
    from services.modeling.scoring import model_inputs

    model.model.train()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            batch = samples[start : start + batch_size]
            rgb = np.stack([load_image(sample.path, max_pixels=settings.max_image_pixels).rgb for sample in batch])
            images = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div(255)
            inputs, _ = model_inputs(model, images)
            chunks.append(model.model(inputs))
    model.model.embedding_store.clear()
    return torch.vstack(chunks)


def time_interleaved(features: torch.Tensor, ratio: float, repeats: int, seed: int) -> dict[str, SelectionRuns]:
    """Run every method ``repeats`` times on the same features, rotating which goes first."""
    seconds: dict[str, list[float]] = {name: [] for name in METHODS}
    selections: dict[str, list[torch.Tensor]] = {name: [] for name in METHODS}
    names = list(METHODS)
    for repeat in range(repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            started = time.perf_counter()
            selections[name].append(METHODS[name](features, ratio, seed + repeat))
            seconds[name].append(time.perf_counter() - started)
            print(f"  repeat {repeat + 1}/{repeats} {name:<24} {seconds[name][-1]:8.2f} s", flush=True)
    return {name: SelectionRuns(tuple(seconds[name]), tuple(selections[name])) for name in METHODS}


def coverage(features: torch.Tensor, indices: torch.Tensor) -> tuple[float, float]:
    """Largest and mean distance from a training feature to its nearest coreset feature."""
    centres = features[indices]
    nearest = torch.cat(
        [
            torch.cdist(features[start : start + COVERAGE_CHUNK], centres).min(dim=1).values
            for start in range(0, len(features), COVERAGE_CHUNK)
        ]
    )
    return float(nearest.max()), float(nearest.mean())


def quality(
    model: Patchcore, features: torch.Tensor, indices: torch.Tensor, test: Sequence[Sample]
) -> dict[str, float]:
    """Test metrics of the PatchCore whose memory bank is ``features[indices]``, and that bank's coverage."""
    from services.training.evaluation import compute_metrics, score_samples

    model.model.memory_bank = features[indices]
    metrics = compute_metrics(score_samples(model, test))
    radius, mean_distance = coverage(features, indices)
    return {
        "image AUROC": metrics.image_auroc,
        "pixel AUROC": metrics.pixel_auroc,
        "pixel AUPRO": metrics.pixel_aupro,
        "covering radius": radius,
        "mean nearest-centre distance": mean_distance,
    }


def _spread(values: Sequence[float]) -> str:
    """``mean [min, max]`` right-aligned in a 28-character column."""
    return f"{statistics.mean(values):.4f} [{min(values):.4f}, {max(values):.4f}]".rjust(28)


def parse_args(argv: Sequence[str] | None, settings: Settings) -> argparse.Namespace:
    from services.data.synthetic import SYNTHETIC_CATEGORIES, SynthConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--category", default="tile", choices=SYNTHETIC_CATEGORIES)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.1, 0.01], help="coreset sampling ratios")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method and ratio")
    parser.add_argument("--train-images", type=int, default=SynthConfig().n_train, help="synthetic training images")
    parser.add_argument("--seed", type=int, default=settings.seed, help="data, model and coreset seed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from lightning import seed_everything

    from services.data.datasets import list_samples
    from services.data.synthetic import SynthConfig, generate_dataset
    from services.modeling.factory import build_model, profile_config
    from services.settings import get_settings

    settings = get_settings()
    args = parse_args(argv, settings)
    seed_everything(args.seed, verbose=False)
    config = profile_config("demo", "patchcore", args.seed)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}; PatchCore {config.backbone} {'+'.join(config.layers)} "
        f"{config.image_size} px; synthetic '{args.category}', {args.train_images} training images, seed {args.seed}"
    )
    model = build_model(config, settings).module
    with tempfile.TemporaryDirectory() as data_dir:
        synth = SynthConfig(seed=args.seed, image_size=config.image_size, n_train=args.train_images)
        dataset = generate_dataset(Path(data_dir), [args.category], synth)
        train = list_samples(dataset.root, args.category, "train")
        test = list_samples(dataset.root, args.category, "test")
        started = time.perf_counter()
        features = extract_features(model, train, settings)
        print(
            f"features: {features.shape[0]} × {features.shape[1]} from {len(train)} images "
            f"in {time.perf_counter() - started:.1f} s; test split {len(test)} images"
        )
        for ratio in args.ratios:
            print(f"\nratio {ratio:g}: {int(len(features) * ratio)} of {len(features)} features", flush=True)
            runs = time_interleaved(features, ratio, args.repeats, args.seed)
            scores = {
                name: [quality(model, features, indices, test) for indices in runs[name].indices]
                for name in (BASELINE, FAST)
            }
            print(f"  {'':<30}{'anomalib':>28}{'services':>28}{'services, torch threads':>28}")
            for label, pick in (("median selection time (s)", statistics.median), ("fastest selection time (s)", min)):
                print(f"  {label:<30}" + "".join(f"{pick(runs[name].seconds):>28.2f}" for name in METHODS))
            for label in scores[BASELINE][0]:
                print(f"  {label:<30}" + "".join(_spread([run[label] for run in scores[name]]) for name in scores))
            same = all(map(torch.equal, runs[FAST].indices, runs[FAST_THREADED].indices))
            print(f"  services selections identical with torch threads: {'yes' if same else 'NO'}")
            print(
                f"  speed-up, median over median: {runs[BASELINE].median / runs[FAST].median:.1f}× "
                f"(torch threads: {runs[BASELINE].median / runs[FAST_THREADED].median:.1f}×)",
                flush=True,
            )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
