"""``import-run``: an anomalib model trained elsewhere becomes a registry run, scored on a dataset when one is given.

It sits in ``inference`` because it needs training's evaluation (a dataset is scored exactly as for a native run)
and inference's IR module (a run holding only an OpenVINO IR); reading and checking the file is the registry's
(:mod:`services.registry.imports`). The run is written into a staging folder and moved into place at the end, so
a failed import leaves nothing in the registry.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from anomalib.models.components.base import AnomalibModule

from services.access import ActingUser, Action, require
from services.data.categories import check_category_name
from services.data.datasets import DatasetInfo, file_sha256, list_samples, open_dataset
from services.inference.imported_ir import ImportedIr, ir_input_size
from services.modeling.factory import load_model
from services.modeling.model_table import model_spec
from services.modeling.scoring import Thresholds
from services.registry import runs as registry
from services.registry.imports import (
    IMPORTED_DATASET,
    ImportSource,
    ModelImportError,
    check_ir_graph,
    detect_model,
    import_format,
    import_run_name,
    ir_weights,
    project_checkpoint,
    read_checkpoint,
    read_torch_export,
)
from services.registry.writable import ensure_writable
from services.settings import Settings
from services.training.engine import library_versions, write_test_artefacts
from services.training.evaluation import compute_metrics, score_samples

STAGING = ".imports"
"""The registry folder where an import is written before it is moved into its run folder."""
IR_WEIGHTS = "model.bin"
PROFILE = "imported"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportRequest:
    """What the user asked to import: the file (a ``.ckpt``, an IR's ``.xml`` or a ``.pt``) and how."""

    file: Path
    category: str
    data: Path | None = None
    """A dataset root (MVTec layout) holding ``category``: its test split is scored like a native run's."""
    trust: bool = False
    """Read a pickled ``.pt`` export (it can run code)."""
    model: str | None = None
    """The registry model name; found from a checkpoint's weights, required for an IR."""
    device: str = "cpu"


@dataclass(frozen=True)
class PreparedModel:
    """An imported model written into the staging folder and loaded back, ready to score."""

    model: str
    module: AnomalibModule | ImportedIr
    source: ImportSource
    config: dict[str, Any]


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


def _prepare_ir(request: ImportRequest, folder: Path, sha256: str) -> PreparedModel:
    check_ir_graph(request.file)
    weights = ir_weights(request.file)
    if request.model is None:
        raise ModelImportError(
            f"OpenVINO IR {request.file.name} does not say which model it holds: pass --model patchcore or efficientad"
        )
    model_spec(request.model)
    shutil.copyfile(request.file, folder / registry.IMPORTED_IR)
    shutil.copyfile(weights, folder / IR_WEIGHTS)
    try:
        module = ImportedIr(folder / registry.IMPORTED_IR)
    except RuntimeError as exc:  # OpenVINO's read or compile error, or outputs that are not an anomalib model's
        raise ModelImportError(f"OpenVINO IR {request.file.name} cannot be compiled: {exc}") from exc
    height, width = ir_input_size(module.model)
    source = ImportSource(format="openvino", file=request.file.name, sha256=sha256)
    return PreparedModel(request.model, module, source, {"model": request.model, "image_size": height, "width": width})


def _prepare_checkpoint(request: ImportRequest, folder: Path, sha256: str, fmt: str) -> PreparedModel:
    file = request.file
    checkpoint = read_checkpoint(file) if fmt == "ckpt" else read_torch_export(file, request.trust)
    model = detect_model(checkpoint, file, request.model)
    converted = project_checkpoint(checkpoint, model)
    torch.save(converted, folder / registry.CHECKPOINT)
    label = model_spec(model).label
    try:
        module = load_model(model, folder / registry.CHECKPOINT, request.device)
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:
        raise ModelImportError(f"checkpoint {file.name} does not load as anomalib's {label}: {exc}") from exc
    if not math.isfinite(Thresholds.of(module).image):
        raise ModelImportError(
            f"checkpoint {file.name} has no fitted thresholds in its post-processor (image threshold is NaN): "
            f"export it after anomalib's validation, which Engine.fit runs"
        )
    source = ImportSource(
        format="torch" if fmt == "torch" else "ckpt",
        file=file.name,
        sha256=sha256,
        anomalib_version=checkpoint.get("anomalib_version"),
        lightning_version=checkpoint.get("pytorch-lightning_version"),
        trusted_pickle=fmt == "torch",
    )
    size = module.input_size
    config = {"model": model, "image_size": int(size[0]) if size else None, **converted["hyper_parameters"]}
    return PreparedModel(model, module, source, _json_safe(config))


def prepare_model(request: ImportRequest, folder: Path) -> PreparedModel:
    """Check the file, write its model into ``folder`` as a run holds it and load it back."""
    fmt = import_format(request.file)
    sha256 = file_sha256(request.file)
    if fmt == "openvino":
        return _prepare_ir(request, folder, sha256)
    return _prepare_checkpoint(request, folder, sha256, fmt)


def _dataset(request: ImportRequest, category: str) -> DatasetInfo | None:
    return None if request.data is None else open_dataset(request.data, [category])


def import_run(
    request: ImportRequest, settings: Settings, progress: Progress = print, *, user: ActingUser
) -> registry.Run:
    """Import ``request.file`` as a run of ``request.category``; with ``request.data``, score its test split. Refused
    (``AccessDeniedError``) before the file is read for a user who may not import."""
    require(user, Action.IMPORT)
    category = check_category_name(request.category)
    started = time.perf_counter()
    staging_root = settings.registry_dir / STAGING
    ensure_writable(staging_root, f"import {request.file.name}")
    staging = Path(tempfile.mkdtemp(prefix="import-", dir=staging_root))
    try:
        progress(f"reading {request.file.name}")
        prepared = prepare_model(request, staging)
        dataset = _dataset(request, category)
        run_name = import_run_name(prepared.source.sha256)
        target = registry.run_dir(
            settings, dataset.name if dataset else IMPORTED_DATASET, prepared.model, category, run_name
        )
        if target.exists():
            raise ModelImportError(f"{request.file.name} is already imported as {target}; delete that folder first")
        metrics: dict[str, float] = {}
        if dataset is not None:
            samples = list_samples(dataset.root, category, "test")
            progress(f"{prepared.model}/{category}: scoring {len(samples)} test images of {dataset.root}")
            scores = score_samples(prepared.module, samples, device=request.device)
            metrics = compute_metrics(scores).as_dict()
            write_test_artefacts(staging, scores, dataset.root)
        record = registry.RunMetrics(
            dataset=dataset.name if dataset else IMPORTED_DATASET,
            dataset_version=dataset.version if dataset else "",
            dataset_fingerprint=dataset.fingerprint if dataset else "",
            model=prepared.model,
            category=category,
            run=run_name,
            profile=PROFILE,
            metrics=metrics,
            thresholds=asdict(Thresholds.of(prepared.module)),
            config=prepared.config,
            protocol={"name": PROFILE, "thresholds": "the imported model's own post-processor"},
            timings={"import_s": round(time.perf_counter() - started, 3)},
            versions=library_versions(),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            device=request.device,
            dataset_root=str(dataset.root) if dataset else "",
            source=prepared.source.as_dict(),
        )
        (staging / registry.METRICS).write_text(record.to_json())
        registry.write_manifest(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    progress(f"imported {request.file.name} as {target}")
    return registry.load_run(target)
