"""The product gate on every product: its own good and defective test parts, and every other product's test parts.

Each product's gate is fitted from its protocol's training and validation normals only (as training fits it); only
then are test images described and measured against it. Products come from the synthetic development set and the
confirmation set of real photographs (both in MVTec layout):

    python -m services.cli synth --out /tmp/synthetic
    python benchmarks/bench_product_gate.py --synthetic /tmp/synthetic --confirmation data/confirmation

Prints each product's distances as multiples of its fitted threshold (own test images, other products), then, per
margin, a Markdown table: per product the threshold, the share of its own good and defective test images
flagged as foreign, and the share of each other product's test images flagged; then one summary line per margin.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.data.images import read_rgb
from services.data.layouts import open_category
from services.data.protocol import build_protocol_for
from services.modeling.image_descriptor import ImageDescriptor
from services.settings import Settings
from services.training.product_gate import GATE_BUDGET, GATE_MARGIN, ProductGate, gate_from_descriptors

SYNTHETIC = ("tile", "leather", "grid")
CONFIRMATION = ("gravel", "moss", "planks", "forest_floor")


@dataclass(frozen=True)
class ProductDescriptors:
    """One product's descriptors: training and validation normals, and its test images with their labels."""

    name: str
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    test_anomalous: np.ndarray


def describe_product(root: Path, category: str, descriptor: ImageDescriptor, settings: Settings) -> ProductDescriptors:
    """The product's splits as training builds them, each image described once."""
    info, data = open_category(root, category)
    protocol = build_protocol_for(data, info, settings, seed=settings.seed)

    def describe(samples: tuple) -> np.ndarray:
        return descriptor.describe([read_rgb(sample.path) for sample in samples])

    return ProductDescriptors(
        name=category,
        train=describe(protocol.train),
        validation=describe(protocol.validation_normals),
        test=describe(protocol.test),
        test_anomalous=np.array([sample.is_anomalous for sample in protocol.test]),
    )


def flagged(gate: ProductGate, descriptors: np.ndarray) -> np.ndarray:
    """Which descriptors the gate turns away."""
    return gate.distances(descriptors) > gate.threshold


def share(values: np.ndarray) -> str:
    """``k/n`` flagged."""
    return f"{int(values.sum())}/{len(values)}"


def margin_table(products: list[ProductDescriptors], budget: float, margin: float) -> tuple[list[str], str]:
    """The Markdown table of one margin and its summary line."""
    names = [product.name for product in products]
    lines = [
        f"margin {margin:g}, budget {budget:g}",
        "",
        "| product | normals | threshold | own good | own defective | " + " | ".join(names) + " |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(names),
    ]
    own_good = own_bad = other_flagged = other_total = 0
    for product in products:
        gate = gate_from_descriptors(product.name, product.train, product.validation, budget, margin)
        own = flagged(gate, product.test)
        good, bad = own[~product.test_anomalous], own[product.test_anomalous]
        others = [flagged(gate, other.test) for other in products]
        cells = ["—" if other.name == product.name else share(f) for other, f in zip(products, others, strict=True)]
        lines.append(
            f"| {product.name} | {len(product.train) + len(product.validation)} | {gate.threshold:.3f} | "
            f"{share(good)} | {share(bad)} | " + " | ".join(cells) + " |"
        )
        own_good, own_bad = own_good + int(good.sum()), own_bad + int(bad.sum())
        foreign = [f for other, f in zip(products, others, strict=True) if other.name != product.name]
        other_flagged += sum(int(f.sum()) for f in foreign)
        other_total += sum(len(f) for f in foreign)
    n_good = sum(int((~p.test_anomalous).sum()) for p in products)
    n_bad = sum(int(p.test_anomalous.sum()) for p in products)
    summary = (
        f"| {margin:g} | {own_good}/{n_good} | {own_bad}/{n_bad} | {other_flagged}/{other_total} "
        f"({other_flagged / other_total:.1%}) |"
    )
    return lines, summary


def separation_table(products: list[ProductDescriptors], budget: float) -> list[str]:
    """Per product, distances as multiples of the fitted threshold (margin 1): the largest of its own good and
    defective test images, and the smallest of any other product's: the margin must lie between them."""
    lines = [
        f"distance / fitted threshold (margin 1, budget {budget:g})",
        "",
        "| product | fitted threshold | own good, largest | own defective, largest | other products, smallest |",
        "|---|---:|---:|---:|---:|",
    ]
    for product in products:
        gate = gate_from_descriptors(product.name, product.train, product.validation, budget, 1.0)
        own = gate.distances(product.test) / gate.threshold
        others = np.concatenate([gate.distances(o.test) for o in products if o.name != product.name]) / gate.threshold
        good, bad = own[~product.test_anomalous], own[product.test_anomalous]
        lines.append(
            f"| {product.name} | {gate.threshold:.3f} | {good.max():.2f} | {bad.max():.2f} | {others.min():.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=Path, required=True, help="root written by `services.cli synth --out`")
    parser.add_argument("--confirmation", type=Path, required=True, help="root written by `services.cli confirmation`")
    parser.add_argument("--budget", type=float, default=GATE_BUDGET)
    parser.add_argument("--margins", type=float, nargs="+", default=[1.0, 1.25, 1.5, GATE_MARGIN, 2.0, 3.0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:  # the protocol's pseudo-anomalies go here, not into the data
        settings = Settings(data_root=Path(scratch), registry_dir=Path(scratch) / "models")
        descriptor = ImageDescriptor(settings, args.device)
        roots = [(args.synthetic, name) for name in SYNTHETIC] + [(args.confirmation, name) for name in CONFIRMATION]
        products = [describe_product(root, name, descriptor, settings) for root, name in roots]
    print("\n".join(separation_table(products, args.budget)), end="\n\n")
    summaries = ["| margin | own good flagged | own defective flagged | other products' test images flagged |"]
    summaries.append("|---:|---:|---:|---:|")
    for margin in args.margins:
        lines, summary = margin_table(products, args.budget, margin)
        print("\n".join(lines), end="\n\n")
        summaries.append(summary)
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
