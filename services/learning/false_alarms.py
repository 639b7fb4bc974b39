"""False alarms on a PatchCore run, learned as a new version of the run without retraining.

The images an engineer marked false alarm (sha256s; bytes in the records' image store) add their patch embeddings to
the run's memory bank (:mod:`services.modeling.patchcore.bank_growth`), and the result is written as the next
version of the run (:mod:`services.registry.versions`): a new folder beside the old one, written as training writes
runs (a partial folder renamed into place), with the grown checkpoint, the test split scored again (metrics, maps,
curves, panels) and a ``version`` record naming the run it derives from and the images it added. The old version
stays as it was: it is the undo.

Thresholds are kept as calibrated, not refitted: a larger bank can only shorten each patch's distance to its
nearest row, so the maps of the out-of-sample normals the thresholds rest on (``normal_scores.json``, kept) and their
peaks can only fall, and the false-alarm rate the thresholds promise still holds, now conservatively (the image
score's neighbour weight may shift a little either way). Refitting would need those normals scored again without
their look-alike groups against the grown bank, which is training's work, not this step's.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from services.data.errors import DatasetError
from services.data.images import load_image
from services.modeling.factory import load_model
from services.modeling.model_table import PATCHCORE, model_spec
from services.modeling.patchcore.bank_growth import PatchChoice, grow_bank
from services.modeling.scoring import rgb_inputs, score_inputs
from services.records.image_store import ImageStore
from services.registry import runs as registry
from services.registry.artefacts import dataset_root, no_known_defects_reason, scored_samples
from services.registry.imports import read_checkpoint
from services.registry.runs import Run, RunMetrics
from services.registry.versions import RunVersion, base_name, learned_images, next_version, remove_version
from services.settings import Settings
from services.similarity.crop_embedder import Embedder
from services.similarity.index import index_run
from services.similarity.production import carry_production_cases
from services.similarity.store import SearchFilters, SimilarityStore
from services.training.engine import write_test_artefacts
from services.training.evaluation import IMAGE_METRICS, PIXEL_METRICS, compute_metrics, score_samples

MEMORY_BANK_KEY = "model.memory_bank"
THRESHOLDS_KEPT = (
    "kept as calibrated: a larger memory bank only lowers patch distances, so the normal images' maps they rest on "
    "can only fall and the promised false-alarm rate still holds"
)
REGENERATED = (
    registry.CHECKPOINT,
    registry.METRICS,
    registry.MANIFEST,
    registry.PREDICTIONS,
    registry.CURVES,
    registry.MAPS,
    registry.HEATMAPS,
    registry.EXPORT_CACHE,
)
"""Files of the old version that the new one writes afresh (or, for the OpenVINO cache, makes at first use)."""


class FalseAlarmLearningError(ValueError):
    """False alarms that cannot be learned; the message names the run or image and the rule."""


@dataclass(frozen=True)
class LearnedVersion:
    """The new version and the learned images' normalised scores (0.5 is the threshold) before and after."""

    run: Run
    version: RunVersion
    scores_before: dict[str, float]
    scores_after: dict[str, float]


def _new_images(run: Run, image_sha256s: Sequence[str], store: ImageStore) -> list[str]:
    """The images to learn, each once, refused where none is new or one is not in the store."""
    spec = model_spec(run.record.model)
    if spec is not PATCHCORE or not run.checkpoint.is_file():
        what = spec.label if run.checkpoint.is_file() else f"{spec.label}, imported without a checkpoint"
        raise FalseAlarmLearningError(
            f"run {run.record.run} ({what}) cannot learn false alarms without retraining: only a PatchCore checkpoint "
            "can; other models keep them as extra normal images for their next training (train --include-reviewed)"
        )
    missing = [sha for sha in image_sha256s if not store.path(sha).is_file()]
    if missing:
        raise FalseAlarmLearningError(f"image {missing[0]} is not in the records' image store ({store.root})")
    known = set(learned_images(run))
    new = [sha for sha in dict.fromkeys(image_sha256s) if sha not in known]
    if not new:
        raise FalseAlarmLearningError(f"run {run.record.run} has learned every one of these images already")
    return new


def learn_false_alarms(
    run: Run,
    image_sha256s: Sequence[str],
    settings: Settings,
    *,
    patches: PatchChoice = "coreset",
    device: str | None = None,
    progress: Callable[[str], None] = print,
) -> LearnedVersion:
    """Write the next version of ``run`` with the false-alarm images' patches in its memory bank; images it has
    learned already are skipped."""
    store = ImageStore(settings.records_dir)
    new = _new_images(run, image_sha256s, store)
    device = device or settings.resolved_device()
    started = time.perf_counter()
    module = load_model(run.record.model, run.checkpoint, device)
    rgbs = [load_image(store.path(sha), name=sha, max_pixels=settings.max_image_pixels).rgb for sha in new]
    inputs = rgb_inputs(module, rgbs).to(device)
    before = score_inputs(module, inputs).scores
    growth = grow_bank(module.model, inputs, float(module.coreset_sampling_ratio), patches)
    after = score_inputs(module, inputs).scores
    progress(f"{run.record.run}: memory bank {growth.rows_before} + {len(growth.added)} rows from {len(new)} images")
    with next_version(run) as (final, number):
        version = RunVersion(
            number=number,
            of=base_name(run),
            derived_from=run.record.run,
            added_images=tuple(new),
            learned_images=(*learned_images(run), *new),
            memory_bank_rows={"before": growth.rows_before, "added": len(growth.added), "after": growth.rows_after},
            patches=patches,
            thresholds=THRESHOLDS_KEPT,
        )
        with registry.partial_run(final) as out:
            learned = replace(run.record, run=final.name, version=version.as_dict())
            learn_s = time.perf_counter() - started
            _write_version(
                out,
                run,
                module=module,
                record=learned,
                settings=settings,
                device=device,
                learn_s=learn_s,
                progress=progress,
            )
    return LearnedVersion(
        run=registry.load_run(final),
        version=version,
        scores_before=dict(zip(new, map(float, before), strict=True)),
        scores_after=dict(zip(new, map(float, after), strict=True)),
    )


def _write_version(
    out: Path,
    run: Run,
    *,
    module: torch.nn.Module,
    record: RunMetrics,
    settings: Settings,
    device: str,
    learn_s: float,
    progress: Callable[[str], None],
) -> None:
    """The version's folder (``record`` names it and its version): the old one's other files, the grown checkpoint,
    the test split scored again."""
    for path in run.path.iterdir():
        if path.name not in REGENERATED and path.is_file():
            shutil.copy2(path, out / path.name)
    checkpoint = read_checkpoint(run.checkpoint)
    checkpoint["state_dict"][MEMORY_BANK_KEY] = module.model.memory_bank.detach().cpu()
    torch.save(checkpoint, out / registry.CHECKPOINT)
    record = replace(
        record,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        retrieval={},
        timings={**run.record.timings, "learn_s": round(learn_s, 3)},
    )
    (out / registry.METRICS).write_text(
        _scored(out, run, record, settings=settings, device=device, progress=progress).to_json()
    )
    registry.write_manifest(out)


def _unscored(record: RunMetrics, reason: str) -> RunMetrics:
    """``record`` with every test metric unavailable for ``reason``."""
    keys = IMAGE_METRICS + PIXEL_METRICS
    return replace(record, metrics=dict.fromkeys(keys, float("nan")), unavailable=dict.fromkeys(keys, reason))


def _scored(
    out: Path, run: Run, record: RunMetrics, *, settings: Settings, device: str, progress: Callable[[str], None]
) -> RunMetrics:
    """``record`` with the version's test metrics: the test split scored again by the grown checkpoint, or every
    metric unavailable where the run has no test split (imported without data) or its images are not on this
    machine."""
    if not (run.path / registry.PREDICTIONS).is_file():
        return _unscored(record, f"run {run.record.run} was never scored on a test split")
    try:
        samples = scored_samples(run, settings)
    except DatasetError as exc:
        return _unscored(record, f"not scored again: {exc}")
    progress(f"{record.run}: scoring {len(samples)} test images")
    grown = load_model(record.model, out / registry.CHECKPOINT, device)
    scores = score_samples(grown, samples, device=device)
    write_test_artefacts(out, scores, dataset_root(run, settings))
    metrics = compute_metrics(scores)
    return replace(record, metrics=metrics.as_dict(), unavailable=metrics.unavailable)


def index_version(version: Run, settings: Settings, store: SimilarityStore, embedder: Embedder) -> int:
    """Give a new version its similar-defect library: its known test defects indexed (where its test split has
    any) and the defects confirmed on the run it derives from carried over; returns how many points it holds."""
    if (version.path / registry.PREDICTIONS).is_file() and no_known_defects_reason(version) is None:
        index_run(version, store, embedder)
    learned_from = RunVersion.of_record(version.record)
    source = version.path.with_name(learned_from.derived_from) if learned_from is not None else None
    if source is not None and source.is_dir():  # an undone version carries nothing
        carry_production_cases(registry.load_run(source), version, settings=settings, store=store, embedder=embedder)
    record = version.record
    return store.count(SearchFilters(record.dataset, record.category, record.model, record.run))


def undo_version(version: Run, store: SimilarityStore) -> None:
    """Undo a false alarm: the version's library and its folder removed (:func:`remove_version`), so the version
    before it is the product's default run again."""
    remove_version(version)
    record = version.record
    store.delete_run(record.dataset, record.model, record.category, record.run)
