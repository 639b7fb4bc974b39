"""The model registry on disk: run folders, their metrics record and a sha256 manifest (layout: models/README.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.data.datasets import file_sha256
from services.data.synthetic import SYNTHETIC_CATEGORIES
from services.settings import Settings

CHECKPOINT = "model.ckpt"
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv"
CURVES = "curves.json"
MAPS = "maps.npz"
HEATMAPS = "heatmaps"
MANIFEST = "manifest.json"
NON_RUN_FOLDERS = ("weights", "penalty_images", "qdrant", "reports")
EXPORT_CACHE = "openvino"
NOT_AVAILABLE = "n/a"

ManifestStatus = Literal["ok", "modified", "missing-manifest"]


class RegistryError(ValueError):
    """A run folder is missing or incomplete."""


@dataclass(frozen=True)
class RunMetrics:
    """A run's record as written to ``metrics.json``."""

    dataset: str
    dataset_version: str
    dataset_fingerprint: str
    model: str
    category: str
    run: str
    profile: str
    metrics: dict[str, float]
    thresholds: dict[str, float]
    config: dict[str, Any]
    protocol: dict[str, Any]
    timings: dict[str, float]
    versions: dict[str, str]
    created_at: str
    device: str
    dataset_root: str = ""
    retrieval: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    """Metric name → why it is ``NaN`` (the test split has no labelled defect, no mask, …)."""

    def to_json(self) -> str:
        """Pretty JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True, allow_nan=True)

    @classmethod
    def from_file(cls, path: Path) -> RunMetrics:
        """Read ``metrics.json``; unknown keys are ignored so older runs still load."""
        data = json.loads(path.read_text())
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass(frozen=True)
class Run:
    """A run folder and its metrics record."""

    path: Path
    record: RunMetrics

    @property
    def checkpoint(self) -> Path:
        """The Lightning checkpoint."""
        return self.path / CHECKPOINT


def metric_text(value: float | None) -> str:
    """A metric for display: three decimals, or ``n/a`` where it is not available (``NaN`` or absent)."""
    return NOT_AVAILABLE if value is None or math.isnan(value) else f"{value:.3f}"


def sorted_categories(categories: Iterable[str]) -> tuple[str, ...]:
    """Category names once each: the synthetic demo's in its own order, then every other name alphabetically."""
    names = set(categories)
    known = [name for name in SYNTHETIC_CATEGORIES if name in names]
    return (*known, *sorted(names - set(known)))


def run_dir(settings: Settings, dataset: str, model: str, category: str, run: str) -> Path:
    """``<registry>/<dataset>/<model>/<category>/<run>``."""
    return settings.registry_dir / dataset / model / category / run


def _run_files(path: Path) -> list[Path]:
    # The OpenVINO export cache is derived from model.ckpt at first use, after training wrote the manifest, and is
    # checked against the checkpoint's sha256 by services.inference.openvino_backend; hashing it here would mark every
    # served run "modified".
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.name != MANIFEST and p.relative_to(path).parts[0] != EXPORT_CACHE
    )


def write_manifest(path: Path) -> dict[str, str]:
    """Hash every file of the run folder into ``manifest.json``."""
    manifest = {str(p.relative_to(path)): file_sha256(p) for p in _run_files(path)}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def manifest_status(path: Path) -> ManifestStatus:
    """Whether the run's files still match their manifest."""
    manifest_file = path / MANIFEST
    if not manifest_file.is_file():
        return "missing-manifest"
    recorded = json.loads(manifest_file.read_text())
    current = {str(p.relative_to(path)): file_sha256(p) for p in _run_files(path)}
    return "ok" if recorded == current else "modified"


def load_run(path: Path) -> Run:
    """A run from its folder; raises RegistryError when its checkpoint or record is missing."""
    for required in (CHECKPOINT, METRICS):
        if not (path / required).is_file():
            raise RegistryError(
                f"run folder {path} has no {required}: train it with `python -m services.cli benchmark`"
            )
    return Run(path=path, record=RunMetrics.from_file(path / METRICS))


def list_runs(settings: Settings, dataset: str | None = None) -> list[Run]:
    """Every complete run in the registry, newest first."""
    root = settings.registry_dir
    if not root.is_dir():
        return []
    runs = []
    for metrics_file in root.glob(f"{dataset or '*'}/*/*/*/{METRICS}"):
        if metrics_file.parts[len(root.parts)] in NON_RUN_FOLDERS or not (metrics_file.parent / CHECKPOINT).is_file():
            continue
        runs.append(Run(path=metrics_file.parent, record=RunMetrics.from_file(metrics_file)))
    return sorted(runs, key=lambda run: run.record.created_at, reverse=True)


def latest_runs(settings: Settings, dataset: str | None = None) -> dict[tuple[str, str, str], Run]:
    """The newest run per (dataset, model, category)."""
    latest: dict[tuple[str, str, str], Run] = {}
    for run in list_runs(settings, dataset):
        key = (run.record.dataset, run.record.model, run.record.category)
        latest.setdefault(key, run)
    return latest
