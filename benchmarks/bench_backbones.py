"""PatchCore feature choice on synthetic data: backbone, layers and input size, measured side by side in one run.

Usage: ``TQDM_DISABLE=1 python benchmarks/bench_backbones.py [--categories tile leather grid]
[--configs lite0:b2+b4:256 lite2:b2+b4:512:0.025 ...] [--ratio 0.1]``

Each configuration is ``<backbone>:<layers>:<image size>[:<coreset ratio>]`` (``lite0`` = ``tf_efficientnet_lite0``,
``b2+b4`` = ``blocks.2`` and ``blocks.4``; EfficientNet's feature stages are blocks 0, 1, 2, 4 and 6, at strides 2 to
32; the ratio defaults to ``--ratio``). A larger input has more patches per image, so the resolution sweep lowers the
ratio to keep the memory bank at the same size (about 6,100 patches of the 60 training images): the comparison is
about the features, not the bank. For every configuration and category the demo-profile PatchCore is built with those
overrides, the training patch features of the whole ``train/good`` folder are extracted once
(:func:`benchmarks.bench_coreset.extract_features`), the project's k-center greedy coreset is selected at the
configuration's ratio and the test split is scored (image AUROC from raw scores, so no validation pass is needed). It
prints image and pixel AUROC per category, their mean, the image AUROC of each defect type against the good images,
and the seconds spent in feature extraction, coreset selection and testing.
The synthetic dataset is generated into a temporary folder with the default generator settings unless ``--root`` names
an existing one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = (
    "lite0:b2+b4:256",
    "lite1:b2+b4:256",
    "lite2:b2+b4:256",
    "lite2:b2+b4:320:0.064",
    "lite2:b2+b4:384:0.045",
    "lite2:b2+b4:512:0.025",
    "lite0:b1+b2+b4:256",
)
"""What was measured for the demo profile's choice (``services.modeling.factory``)."""


@dataclass(frozen=True)
class FeatureChoice:
    """One parsed ``<backbone>:<layers>:<size>[:<ratio>]`` configuration."""

    backbone: str
    layers: tuple[str, ...]
    image_size: int
    ratio: float | None = None
    """Coreset sampling ratio; ``None``: the command's ``--ratio``."""

    @classmethod
    def parse(cls, text: str) -> FeatureChoice:
        """``lite2:b2+b4:512:0.025`` → ``tf_efficientnet_lite2``, ``(blocks.2, blocks.4)``, 512, 0.025."""
        try:
            backbone, layers, size, *ratio = text.split(":")
            if len(ratio) > 1:
                raise ValueError(text)
            return cls(
                backbone=f"tf_efficientnet_{backbone}",
                layers=tuple(f"blocks.{layer.removeprefix('b')}" for layer in layers.split("+")),
                image_size=int(size),
                ratio=float(ratio[0]) if ratio else None,
            )
        except ValueError as exc:
            message = f"{text!r} is not <backbone>:<layers>:<size>[:<ratio>], e.g. lite2:b2+b4:512:0.025"
            raise argparse.ArgumentTypeError(message) from exc


@dataclass(frozen=True)
class CategoryResult:
    """One configuration on one category."""

    image_auroc: float
    pixel_auroc: float
    per_defect: dict[str, float]
    seconds: tuple[float, float, float]  # features, coreset, test


def defect_aurocs(defects: Sequence[str], raw_scores: np.ndarray) -> dict[str, float]:
    """Image AUROC of each defect type's images against the good images."""
    from sklearn.metrics import roc_auc_score

    kinds = np.array(defects)
    good = raw_scores[kinds == "good"]
    return {
        defect: float(
            roc_auc_score(
                np.r_[np.zeros(len(good)), np.ones(int((kinds == defect).sum()))],
                np.r_[good, raw_scores[kinds == defect]],
            )
        )
        for defect in sorted(set(defects) - {"good"})
    }


def evaluate(choice: FeatureChoice, root: Path, category: str, ratio: float, seed: int) -> CategoryResult:
    """Fit the memory bank of ``choice`` on ``category`` and score its test split."""
    from lightning import seed_everything

    from benchmarks.bench_coreset import extract_features
    from services.data.datasets import list_samples
    from services.modeling.factory import build_model, profile_config
    from services.modeling.patchcore.coreset import k_center_greedy
    from services.settings import get_settings
    from services.training.evaluation import compute_metrics, score_samples

    settings = get_settings()
    seed_everything(seed, verbose=False)
    config = profile_config(
        "demo", "patchcore", seed, backbone=choice.backbone, layers=choice.layers, image_size=choice.image_size
    )
    model = build_model(config, settings).module
    train, test = list_samples(root, category, "train"), list_samples(root, category, "test")
    started = time.perf_counter()
    features = extract_features(model, train, settings)
    extracted = time.perf_counter()
    model.model.memory_bank = features[k_center_greedy(features, ratio, seed=seed)]
    selected = time.perf_counter()
    scored = score_samples(model, test)
    tested = time.perf_counter()
    metrics = compute_metrics(scored)
    return CategoryResult(
        image_auroc=metrics.image_auroc,
        pixel_auroc=metrics.pixel_auroc,
        per_defect=defect_aurocs([sample.defect_type for sample in test], scored.scored.raw_scores),
        seconds=(extracted - started, selected - extracted, tested - selected),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--categories", nargs="+", default=["tile", "leather", "grid"])
    parser.add_argument("--configs", nargs="+", type=FeatureChoice.parse, default=None)
    parser.add_argument("--ratio", type=float, default=0.1, help="coreset sampling ratio of configurations without one")
    parser.add_argument("--root", type=Path, default=None, help="an existing synthetic dataset root")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.configs = args.configs or [FeatureChoice.parse(text) for text in DEFAULT_CONFIGS]
    return args


def _run(args: argparse.Namespace, root: Path) -> None:
    header = f"{'configuration':<34} {'category':<8} {'img AUROC':>9} {'px AUROC':>9} {'feat/core/test s':>17}"
    print(f"{header}  per defect")
    for choice in args.configs:
        ratio = choice.ratio or args.ratio
        backbone = choice.backbone.removeprefix("tf_efficientnet_")
        label = f"{backbone} {'+'.join(choice.layers)} {choice.image_size}px cs{ratio:g}"
        results = []
        for category in args.categories:
            result = evaluate(choice, root, category, ratio, args.seed)
            results.append(result)
            defects = " ".join(f"{name} {value:.2f}" for name, value in result.per_defect.items())
            seconds = "/".join(f"{value:.0f}" for value in result.seconds)
            print(
                f"{label:<34} {category:<8} {result.image_auroc:9.3f} {result.pixel_auroc:9.3f} {seconds:>17}  "
                f"{defects}",
                flush=True,
            )
        image_mean = statistics.mean(result.image_auroc for result in results)
        pixel_mean = statistics.mean(result.pixel_auroc for result in results)
        print(f"{label:<34} {'mean':<8} {image_mean:9.3f} {pixel_mean:9.3f}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from services.data.synthetic import SynthConfig, generate_dataset

    args = parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}; coreset ratio {args.ratio}; seed {args.seed}")
    if args.root is not None:
        _run(args, args.root)
        return 0
    with tempfile.TemporaryDirectory() as data_dir:
        dataset = generate_dataset(Path(data_dir), args.categories, SynthConfig(seed=args.seed))
        _run(args, dataset.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
