"""PatchCore pixel quality side by side: stock anomalib ``Patchcore`` against the project's configurations.

Each configuration is fitted on the same protocol's train split (the same offline EfficientNet-Lite weights) and scored
on the same test images; the table gives image AUROC, pixel AUROC and AUPRO per product and their means. "stock" is
anomalib's own ``Patchcore`` class as anomalib builds it (256 px, coreset 0.1, anomalib's 4 px map smoothing, its
coreset sampler) with the EfficientNet-Lite0 backbone, the only ImageNet weights available offline.

    python benchmarks/bench_pixel_quality.py --root data/confirmation --categories gravel moss planks forest_floor
    python benchmarks/bench_pixel_quality.py --root data/synthetic --categories tile leather grid \
        --configs stock demo lite2-256 lite2-384
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anomalib.engine import Engine
from anomalib.models import Patchcore
from lightning.pytorch import seed_everything

from services.data.layouts import open_category
from services.data.protocol import ProtocolDataModule, build_protocol_for
from services.modeling.backbones import DEFAULT_LAYERS, load_pretrained_weights
from services.modeling.factory import build_model, profile_config
from services.modeling.model_config import ModelConfig
from services.settings import Settings
from services.training.evaluation import compute_metrics, score_samples

STOCK_BACKBONE = "tf_efficientnet_lite0"


def stock_patchcore(settings: Settings) -> Patchcore:
    """anomalib's ``Patchcore`` at its defaults (256 px, coreset 0.1, 9 neighbours) on the offline Lite0 backbone."""
    module = Patchcore(
        backbone=STOCK_BACKBONE,
        layers=DEFAULT_LAYERS[STOCK_BACKBONE],
        pre_trained=False,
        coreset_sampling_ratio=0.1,
        visualizer=False,
    )
    load_pretrained_weights(module.model.feature_extractor.feature_extractor, STOCK_BACKBONE, settings)
    return module


def project_config(name: str, seed: int) -> ModelConfig:
    """The demo profile, or a variant named ``<backbone>-<side>`` (e.g. ``lite2-256``: coreset 0.1 at 256 px)."""
    demo = profile_config("demo", "patchcore", seed=seed)
    if name == "demo":
        return demo
    backbone, side = name.split("-")
    timm_name = f"tf_efficientnet_{backbone}"
    ratio = 0.1 * (256 / int(side)) ** 2  # the same memory bank size as a 256 px run at 0.1
    return replace(
        demo, backbone=timm_name, layers=DEFAULT_LAYERS[timm_name], image_size=int(side), coreset_ratio=ratio
    )


def measure(name: str, root: Path, category: str, settings: Settings) -> dict[str, float]:
    """Fit one configuration on one product and score its test split."""
    seed_everything(settings.seed, workers=True, verbose=False)
    dataset, data = open_category(root, category, seed=settings.seed)
    protocol = build_protocol_for(data, dataset, settings, seed=settings.seed)
    module = (
        stock_patchcore(settings)
        if name == "stock"
        else build_model(project_config(name, settings.seed), settings).module
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        engine = Engine(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=work,
        )
        engine.fit(model=module, datamodule=ProtocolDataModule(protocol, train_batch_size=8, eval_batch_size=8))
    fit_s = time.perf_counter() - started
    metrics = compute_metrics(score_samples(module, protocol.test))
    return {
        "image_auroc": metrics.image_auroc,
        "pixel_auroc": metrics.pixel_auroc,
        "pixel_aupro": metrics.pixel_aupro,
        "fit_s": fit_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--categories", nargs="+", required=True)
    parser.add_argument("--configs", nargs="+", default=["stock", "demo"])
    args = parser.parse_args()
    settings = Settings.from_env()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in args.configs}
    print("| config | product | image AUROC | pixel AUROC | AUPRO | fit s |\n|---|---|---|---|---|---|", flush=True)
    for category in args.categories:
        for name in args.configs:
            row = measure(name, args.root, category, settings)
            results[name].append(row)
            print(
                f"| {name} | {category} | {row['image_auroc']:.3f} | {row['pixel_auroc']:.3f} | "
                f"{row['pixel_aupro']:.3f} | {row['fit_s']:.0f} |",
                flush=True,
            )
    for name, rows in results.items():
        means = {key: np.mean([row[key] for row in rows]) for key in ("image_auroc", "pixel_auroc", "pixel_aupro")}
        print(
            f"| {name} | **mean** | {means['image_auroc']:.3f} | {means['pixel_auroc']:.3f} | "
            f"{means['pixel_aupro']:.3f} | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
