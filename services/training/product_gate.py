"""The product gate: is an upload this product at all, or a different product (or camera) the model never saw?

A model trained on one product scores anything else as a defect everywhere, so before a verdict means anything the
upload's global descriptor (:mod:`services.modeling.image_descriptor`) must lie among those of the product's normal
images. The gate is fitted from normals only: the descriptors of the training normals, and out-of-sample distances —
each training normal's nearest-neighbour distance to the *other* training normals (leave-one-out), and each held-out
validation normal's distance to the training normals. The threshold is the conformal quantile of those distances
(:func:`services.postprocessing.false_alarm.fit_threshold`) at ``GATE_BUDGET``, times ``GATE_MARGIN``:

* the budget is small because a good part turned away as "not this product" costs more than a defect call: with the
  few hundred normals a product has, it makes the threshold the largest out-of-sample distance;
* the margin covers what those normals do not: new parts from other areas of the material and other lighting lie
  further from the training normals than the normals lie from each other, while other products lie further still.
  It was chosen on the synthetic development products alone, as multiples of the fitted threshold: near the
  geometric middle between their farthest own test part (good or defective) and the nearest other product's part;
  the confirmation products then checked it (``benchmarks/bench_product_gate.py``; docs/results.md).

Training writes the gate into the run folder (``product_gate.npz``); the Detector reads it. No test image is read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.data.datasets import Sample
from services.data.images import read_rgb
from services.data.protocol import EvaluationProtocol
from services.modeling.image_descriptor import ImageDescriptor
from services.postprocessing.false_alarm import DEFAULT_RULE, FalseAlarmEvidence, fit_threshold
from services.settings import Settings

PRODUCT_GATE = "product_gate.npz"
GATE_BUDGET = 0.001
GATE_MARGIN = 2.0


class ProductGateError(ValueError):
    """Images that cannot fit a product gate."""


@dataclass(frozen=True)
class ForeignCheck:
    """One image against a product's gate: its descriptor's distance to the product's normals and the threshold."""

    product: str
    distance: float
    threshold: float

    @property
    def is_foreign(self) -> bool:
        """Whether the image lies too far from every normal image of the product to be judged as one."""
        return self.distance > self.threshold


@dataclass(frozen=True, eq=False)
class ProductGate:
    """A product's normal descriptors and the distance beyond which an image is not that product."""

    product: str
    normals: np.ndarray
    """``(n, DESCRIPTOR_DIM)`` descriptors of the training normals."""
    evidence: FalseAlarmEvidence
    """The out-of-sample distance threshold fitted at ``GATE_BUDGET``, before the margin."""
    margin: float

    @property
    def threshold(self) -> float:
        """The distance above which an image is foreign: the fitted threshold times the margin."""
        return self.evidence.threshold * self.margin

    def distances(self, descriptors: np.ndarray) -> np.ndarray:
        """Each descriptor's Euclidean distance to its nearest training normal."""
        return pairwise_distances(descriptors, self.normals).min(axis=1)

    def check(self, descriptors: np.ndarray) -> list[ForeignCheck]:
        """One :class:`ForeignCheck` per descriptor."""
        return [ForeignCheck(self.product, float(d), self.threshold) for d in self.distances(descriptors)]

    def write(self, folder: Path) -> Path:
        """Write ``product_gate.npz`` into a run folder."""
        path = folder / PRODUCT_GATE
        evidence = json.dumps(self.evidence.as_dict())
        np.savez_compressed(path, product=self.product, normals=self.normals, margin=self.margin, evidence=evidence)
        return path

    @classmethod
    def read(cls, folder: Path) -> ProductGate | None:
        """The run's gate, or ``None`` for a run written without one (older or imported runs)."""
        path = folder / PRODUCT_GATE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            evidence = FalseAlarmEvidence.from_dict(json.loads(str(data["evidence"])))
            return cls(str(data["product"]), data["normals"], evidence, float(data["margin"]))


def pairwise_distances(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """``(len(queries), len(references))`` Euclidean distances."""
    squared = (queries**2).sum(1)[:, None] + (references**2).sum(1)[None, :] - 2 * queries @ references.T
    return np.sqrt(np.clip(squared, 0.0, None))


def out_of_sample_distances(train: np.ndarray, validation: np.ndarray) -> np.ndarray:
    """Training normals' leave-one-out nearest-neighbour distances, then validation normals' to the training ones."""
    among_train = pairwise_distances(train, train)
    np.fill_diagonal(among_train, np.inf)
    return np.concatenate([among_train.min(axis=1), pairwise_distances(validation, train).min(axis=1)])


def gate_from_descriptors(
    product: str, train: np.ndarray, validation: np.ndarray, budget: float = GATE_BUDGET, margin: float = GATE_MARGIN
) -> ProductGate:
    """The gate of ``product`` from descriptors of its training normals (two or more) and validation normals."""
    if len(train) < 2:
        raise ProductGateError(f"{product}: a product gate needs at least two training normals, got {len(train)}")
    evidence = fit_threshold(out_of_sample_distances(train, validation), budget, DEFAULT_RULE)
    return ProductGate(product, train, evidence, margin)


def fit_product_gate(
    product: str, train: Sequence[Sample], validation: Sequence[Sample], descriptor: ImageDescriptor
) -> ProductGate:
    """The gate of ``product`` from its training and held-out validation normals; an anomalous sample is refused."""
    if any(sample.is_anomalous for sample in (*train, *validation)):
        raise ProductGateError(f"{product}: a product gate is fitted from normal images only")
    train_descriptors = descriptor.describe([read_rgb(sample.path) for sample in train])
    validation_descriptors = descriptor.describe([read_rgb(sample.path) for sample in validation])
    return gate_from_descriptors(product, train_descriptors, validation_descriptors)


def write_product_gate(out: Path, protocol: EvaluationProtocol, settings: Settings, device: str) -> Path:
    """Fit the gate from the protocol's training and validation normals (no test image) and write it into ``out``."""
    descriptor = ImageDescriptor(settings, device)
    gate = fit_product_gate(protocol.category, protocol.train, protocol.validation_normals, descriptor)
    return gate.write(out)
