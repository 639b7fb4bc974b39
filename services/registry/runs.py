"""The model registry on disk: run folders, their metrics record and a sha256 manifest (layout: models/README.md)."""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from services.access import ActingUser, Action, require
from services.data.datasets import file_sha256
from services.data.synthetic import SYNTHETIC_CATEGORIES
from services.registry.writable import ensure_writable
from services.settings import Settings

CHECKPOINT = "model.ckpt"
IMPORTED_IR = "model.xml"
"""An imported OpenVINO IR (its weights beside it, ``model.bin``): a run may hold it instead of a checkpoint."""
METRICS = "metrics.json"
PREDICTIONS = "predictions.csv"
CURVES = "curves.json"
MAPS = "maps.npz"
HEATMAPS = "heatmaps"
MANIFEST = "manifest.json"
JOBS = "jobs"
RECORDS = "records"
NON_RUN_FOLDERS = ("weights", "penalty_images", "qdrant", "reports", JOBS, RECORDS)
PARTIAL_MARK = ".partial-"
"""A run folder being written is ``<run>.partial-<pid>``: never listed, moved into place only once complete."""
REPLACED_SUFFIX = "-replaced"
"""``<run>.partial-<pid>-replaced``: the previous run, set aside for the moment its replacement is renamed in."""
DELETED_SUFFIX = "-deleted"
"""``<run>.partial-<pid>-deleted``: a run being deleted, out of every listing from its rename on."""
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
    source: dict[str, Any] = field(default_factory=dict)
    """Where an imported model came from (``services.registry.imports.ImportSource``); empty for runs trained here."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Metric name → why it is ``NaN`` (the test split has no labelled defect, no mask, …)."""
    version: dict[str, Any] = field(default_factory=dict)
    """A version learned from review decisions (``services.registry.versions.RunVersion``); empty for a trained run,
    which is version 1."""

    @property
    def version_number(self) -> int:
        """1 for a trained run, 2, 3, … for the versions learned from it."""
        return int(self.version.get("number", 1))

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

    @property
    def ir(self) -> Path:
        """The imported OpenVINO IR of a run without a checkpoint."""
        return self.path / IMPORTED_IR

    def model_sha256(self) -> str | None:
        """The sha256 its manifest records for the model file (checkpoint, else imported IR); ``None`` without one."""
        manifest = read_manifest(self.path)
        return manifest.get(CHECKPOINT) or manifest.get(IMPORTED_IR)

    def relative_to(self, registry_dir: Path) -> str:
        """The run's id: its folder relative to the registry (``<dataset>/<model>/<category>/<run>``), or the whole
        path for a run outside it."""
        inside = self.path.is_relative_to(registry_dir)
        return self.path.relative_to(registry_dir).as_posix() if inside else str(self.path)


def _has_model(path: Path) -> bool:
    return (path / CHECKPOINT).is_file() or (path / IMPORTED_IR).is_file()


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


def refresh_manifest(path: Path, names: Iterable[str]) -> dict[str, str]:
    """Hash the named files of the run folder again into its manifest, keeping every other entry: a file rewritten on
    purpose (``metrics.json``) is recorded without blessing a change to any other (the checkpoint)."""
    manifest = {**read_manifest(path), **{name: file_sha256(path / name) for name in names}}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_manifest(path: Path) -> dict[str, str]:
    """The run folder's ``manifest.json`` (relative file → sha256); empty where it has none."""
    manifest_file = path / MANIFEST
    return json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}


def manifest_status(path: Path) -> ManifestStatus:
    """Whether the run's files still match their manifest."""
    if not (path / MANIFEST).is_file():
        return "missing-manifest"
    recorded = read_manifest(path)
    current = {str(p.relative_to(path)): file_sha256(p) for p in _run_files(path)}
    return "ok" if recorded == current else "modified"


def load_run(path: Path) -> Run:
    """A run from its folder; raises RegistryError when its model (checkpoint or imported IR) or record is missing."""
    for required, present in ((CHECKPOINT, _has_model(path)), (METRICS, (path / METRICS).is_file())):
        if not present:
            raise RegistryError(
                f"run folder {path} has no {required}: train it with `python -m services.cli benchmark`"
            )
    return Run(path=path, record=RunMetrics.from_file(path / METRICS))


def is_partial(path: Path) -> bool:
    """Whether ``path`` is a run folder still being written (or left behind by a process that died)."""
    return PARTIAL_MARK in path.name


def _partial_pid(path: Path) -> int:
    digits = path.name.rpartition(PARTIAL_MARK)[2].split("-")[0]
    return int(digits) if digits.isdigit() else 0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale(folders: Iterable[Path]) -> list[Path]:
    """Delete each partial folder whose writing process is gone; returns what was deleted.

    A previous run set aside for its replacement (``…-replaced``) goes back into place instead when its run folder is
    missing: its writer died between the two renames of :func:`partial_run`, and the old complete run is kept.
    """
    removed = []
    for path in folders:
        if not path.is_dir() or pid_alive(_partial_pid(path)):
            continue
        final = path.with_name(path.name.partition(PARTIAL_MARK)[0])
        if path.name.endswith(REPLACED_SUFFIX) and not final.exists():
            os.replace(path, final)
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


@contextmanager
def partial_run(final: Path) -> Iterator[Path]:
    """A fresh ``<run>.partial-<pid>`` sibling of ``final`` to write into; moved onto ``final`` when the block ends
    without an error, removed when it raises, so the registry only ever shows a complete run or none.

    It first checks that the folder can be written (:class:`services.registry.writable.NotWritableError` naming it),
    then cleans what a killed writer left beside ``final`` (:func:`_clean_stale`), so the next run after a crash
    starts clean whether it runs as a job or from the command line.
    """
    ensure_writable(final.parent, f"write the run {final.name}")
    _clean_stale(sorted(final.parent.glob(f"*{PARTIAL_MARK}*")))
    partial = final.with_name(f"{final.name}{PARTIAL_MARK}{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if final.exists():
        retired = final.with_name(f"{final.name}{PARTIAL_MARK}{os.getpid()}{REPLACED_SUFFIX}")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(final, retired)
        os.replace(partial, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(partial, final)


def remove_run(run: Run, *, user: ActingUser) -> None:
    """Delete a run's folder (admin only, ``AccessDeniedError``): renamed to a partial folder first, so no listing
    shows it from then on, and a deletion cut short is finished by the next clean-up (:func:`_clean_stale`)."""
    require(user, Action.DELETE_RUNS)
    ensure_writable(run.path.parent, f"delete the run {run.path.name}")
    doomed = run.path.with_name(f"{run.path.name}{PARTIAL_MARK}{os.getpid()}{DELETED_SUFFIX}")
    os.replace(run.path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def remove_stale_partials(settings: Settings) -> list[Path]:
    """Clean the partial run folders whose writing process is gone (:func:`_clean_stale`); returns what was deleted."""
    root = settings.registry_dir
    folders = sorted(root.glob(f"*/*/*/*{PARTIAL_MARK}*")) if root.is_dir() else []
    return _clean_stale(path for path in folders if path.parts[len(root.parts)] not in NON_RUN_FOLDERS)


def list_runs(settings: Settings, dataset: str | None = None) -> list[Run]:
    """Every complete run in the registry, newest first (partial folders being written are not runs); of runs written
    within the same second, the higher version first."""
    root = settings.registry_dir
    if not root.is_dir():
        return []
    runs = []
    for metrics_file in root.glob(f"{dataset or '*'}/*/*/*/{METRICS}"):
        folder = metrics_file.parent
        if metrics_file.parts[len(root.parts)] in NON_RUN_FOLDERS or is_partial(folder) or not _has_model(folder):
            continue
        runs.append(Run(path=metrics_file.parent, record=RunMetrics.from_file(metrics_file)))
    return sorted(runs, key=lambda run: (run.record.created_at, run.record.version_number), reverse=True)


def latest_runs(settings: Settings, dataset: str | None = None) -> dict[tuple[str, str, str], Run]:
    """The newest run per (dataset, model, category)."""
    latest: dict[tuple[str, str, str], Run] = {}
    for run in list_runs(settings, dataset):
        key = (run.record.dataset, run.record.model, run.record.category)
        latest.setdefault(key, run)
    return latest
