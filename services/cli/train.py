"""The ``train`` command: one product from the user's own folder or an MVTec-layout root, checked before any training,
trained with the chosen models and profile (with ``--include-reviewed``, also on the images reviews marked false
alarm), then indexed for the defect library."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.cli.demo import index_and_evaluate, wait_for_store
from services.data.category_data import Layout
from services.data.datasets import MaskPolicy
from services.data.layouts import open_category
from services.data.protocol import build_protocol_for
from services.jobs import progress as job_progress
from services.learning.reviewed_normals import reviewed_normal_files, reviewed_normals
from services.modeling.efficientad.teacher import ensure_teacher
from services.modeling.factory import profile_config
from services.modeling.model_config import concrete
from services.modeling.model_table import model_spec
from services.registry.artefacts import no_known_defects_reason
from services.registry.runs import Run, latest_runs
from services.registry.writable import ensure_writable
from services.settings import Settings
from services.training.engine import RunRequest, train_and_evaluate


@dataclass(frozen=True)
class ProductRequest:
    """One product to train: where its images are, its name and layout, and which models in which profile."""

    data: Path
    category: str
    layout: Layout | None
    masks: MaskPolicy | None
    models: tuple[str, ...]
    profile: str
    extra_normals: tuple[Path, ...] = ()
    """Normal images to train on besides the folder's (false alarms from reviews); never held out."""


def refuse_duplicate(dataset: str, fingerprint: str, category: str, settings: Settings) -> None:
    """A category name already trained on other images is refused: two products must not share one name."""
    for (_, _, trained), run in latest_runs(settings, dataset).items():
        recorded = run.record.dataset_fingerprint
        if trained == category and recorded != fingerprint:
            raise ValueError(
                f"category {category!r} already holds runs trained on other images (dataset fingerprint {recorded}, "
                f"these are {fingerprint}): choose another product name"
            )


def train_product(request: ProductRequest, settings: Settings, progress: Callable[[str], None] = print) -> list[Run]:
    """Check the data (every problem before any training) and that the registry can be written, train each model,
    index the runs that have known defects; returns the new runs."""
    dataset, data = open_category(
        request.data, request.category, layout=request.layout, masks=request.masks, seed=settings.seed
    )
    refuse_duplicate(dataset.name, dataset.fingerprint, data.category, settings)
    ensure_writable(settings.registry_dir, f"train {request.category}")
    for note in data.notes:
        progress(f"note: {note}")
    job_progress.emit(0.0, "splitting the data")
    protocol = build_protocol_for(data, dataset, settings, seed=settings.seed, extra_normals=request.extra_normals)
    if request.extra_normals:
        progress(f"{data.category}: {len(request.extra_normals)} reviewed false alarms join the training normals")
    device = settings.resolved_device()
    runs = []
    for done, model in enumerate(request.models):
        if model_spec(model).uses_teacher:
            ensure_teacher(settings, progress)
        config = concrete(profile_config(request.profile, model, settings.seed), settings)
        stage = f"training {model_spec(model).label} on {data.category} ({done + 1} of {len(request.models)})"
        job_progress.emit(done / (len(request.models) + 1), stage)
        run_request = RunRequest(
            dataset=dataset, category=data.category, config=config, profile=request.profile, device=device
        )
        runs.append(train_and_evaluate(run_request, settings, protocol, progress))
    job_progress.emit(len(request.models) / (len(request.models) + 1), "indexing defects for the similar-defect search")
    indexable = [run for run in runs if no_known_defects_reason(run) is None]
    for run in runs:
        if run not in indexable:
            progress(f"{run.record.model}/{run.record.category}: not indexed, {no_known_defects_reason(run)}")
    if indexable:
        wait_for_store(settings, progress)
        index_and_evaluate(indexable, settings, progress)
    return runs


def run_train_command(args: argparse.Namespace, settings: Settings) -> int:
    """``python -m services.cli train``: one summary line per run."""
    if args.device:
        settings = settings.with_overrides(device=args.device)
    reviewed = reviewed_normals(settings, args.category) if args.include_reviewed else []
    request = ProductRequest(
        data=Path(args.data),
        category=args.category,
        layout=args.layout,
        masks=args.masks,
        models=tuple(dict.fromkeys(args.models)),
        profile=args.profile,
        extra_normals=tuple(reviewed_normal_files(settings, args.category, reviewed)),
    )
    runs = train_product(request, settings)
    for run in runs:
        record = run.record
        print(f"{record.model}/{record.category}: run {record.run} in {run.path}")
    job_progress.emit(1.0, "done", result=f"{len(runs)} runs of {request.category}")
    return 0
