"""The demo registry: synthetic data, a distilled EfficientAd teacher, every model per category, the Qdrant index.

Each step is skipped when its output already exists, so ``make run`` only pays for what is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from services.data.synthetic import SYNTHETIC_CATEGORIES
from services.jobs import progress as job_progress
from services.modeling.model_table import MODEL_NAMES, model_spec
from services.registry.runs import Run, latest_runs
from services.settings import Settings

if TYPE_CHECKING:
    from services.data.datasets import DatasetInfo
    from services.modeling.model_config import ModelConfig

DEMO_DATASET = "synthetic"
DEMO_PROFILE = "demo"
STORE_WAIT_S = 600.0
STORE_RETRY_S = 5.0


@dataclass(frozen=True)
class DemoStatus:
    """What the demo registry holds and lacks."""

    runs: dict[tuple[str, str], Run]
    missing: tuple[tuple[str, str], ...]
    indexed: bool

    @property
    def complete(self) -> bool:
        """Every (model, category) trained, indexed and retrieval-evaluated."""
        return not self.missing and self.indexed


def demo_status(settings: Settings) -> DemoStatus:
    """Read the registry (cheap: no model is loaded)."""
    latest = latest_runs(settings, DEMO_DATASET)
    runs = {(model, category): run for (_, model, category), run in latest.items()}
    missing = tuple((m, c) for m in MODEL_NAMES for c in SYNTHETIC_CATEGORIES if (m, c) not in runs)
    indexed = bool(runs) and all(run.record.retrieval for run in runs.values())
    return DemoStatus(runs=runs, missing=missing, indexed=indexed)


def index_and_evaluate(runs: list[Run], settings: Settings, progress: Callable[[str], None] = print) -> None:
    """Index every run into the similarity store and record its retrieval figures."""
    from services.similarity.crop_embedder import Embedder
    from services.similarity.index import embed_defect_images, evaluate_retrieval, index_run, record_retrieval
    from services.similarity.store import open_store

    store = open_store(settings)
    embedder = Embedder(settings, device=settings.resolved_device())
    for run in runs:
        embedded = embed_defect_images(run, embedder)
        report = index_run(run, store, embedder, embedded)
        metrics = evaluate_retrieval(run, store, embedder, embedded)
        record_retrieval(run, metrics)
        progress(
            f"indexed {run.record.model}/{run.record.category}: {report.regions} on-defect regions of "
            f"{report.images} images; P@1 {metrics.precision_at_1:.3f}, P@5 {metrics.precision_at_5:.3f}, "
            f"mAP {metrics.mean_average_precision:.3f}; P@5 over all {metrics.all_region_queries} regions "
            f"{metrics.all_region_precision_at_5:.3f}"
        )


def wait_for_store(settings: Settings, progress: Callable[[str], None]) -> None:
    """Open the similar-defect store, waiting while another process (an app opened earlier) holds the embedded one."""
    from services.similarity.store import StoreUnavailableError, open_store

    deadline = time.monotonic() + STORE_WAIT_S
    while True:
        try:
            open_store(settings)
            return
        except StoreUnavailableError as exc:
            if time.monotonic() > deadline:
                raise ValueError(
                    f"the runs are trained, but the similar-defect index was not written: {exc} Run "
                    "`python -m services.cli index` once the store is free."
                ) from exc
            progress(f"waiting for the similar-defect store: {exc}")
            time.sleep(STORE_RETRY_S)


def build_demo(settings: Settings, progress: Callable[[str], None] = print) -> DemoStatus:
    """Create whatever part of the demo registry is missing, then return its status."""
    status = demo_status(settings)
    if status.complete:
        progress(f"demo registry complete in {settings.registry_dir}")
        return status
    from services.data.datasets import DATASET_RECORD, open_dataset
    from services.data.synthetic import SynthConfig, generate_dataset
    from services.modeling.efficientad.teacher import ensure_teacher
    from services.modeling.factory import profile_config

    root = settings.data_root / DEMO_DATASET
    if (root / DATASET_RECORD).is_file():
        dataset = open_dataset(root, SYNTHETIC_CATEGORIES)
    else:
        job_progress.emit(0.0, "generating the synthetic dataset")
        progress(f"generating the synthetic dataset in {root}")
        dataset = generate_dataset(root, categories=SYNTHETIC_CATEGORIES, config=SynthConfig(seed=settings.seed))
    # Runs without a teacher first, so each product appears in the app as soon as its first run is done.
    missing = sorted(status.missing, key=lambda pair: model_spec(pair[0]).uses_teacher)
    steps = len(missing) + 1
    for done, (model, category) in enumerate(missing):
        if model_spec(model).uses_teacher:
            ensure_teacher(settings, progress)
        stage = f"training {model_spec(model).label} on {category} (run {done + 1} of {len(missing)})"
        job_progress.emit(done / steps, stage)
        progress(f"training {model} on {category} ({len(status.missing)} runs missing)")
        _train(dataset, {model: profile_config(DEMO_PROFILE, model, settings.seed)}, category, settings, progress)
    job_progress.emit(len(missing) / steps, "indexing defects for the similar-defect search")
    wait_for_store(settings, progress)
    status = demo_status(settings)
    index_and_evaluate(list(status.runs.values()), settings, progress)
    status = demo_status(settings)
    job_progress.emit(1.0, "done", result=f"demo registry: {len(status.runs)} runs in {settings.registry_dir}")
    return status


@dataclass(frozen=True)
class DemoSample:
    """A cheap registry built like the demo's: the demo profile's model configurations on one product, with fewer
    training steps (EfficientAd's serving cost does not depend on them), a shorter teacher distillation (same teacher
    width) and a smaller test split (fewer known defects in the library); the training images, and so PatchCore's
    memory bank, stay the demo's unless ``n_train`` is lowered."""

    category: str = SYNTHETIC_CATEGORIES[0]
    n_train: int | None = None
    """Normal training images generated (``None``: the demo's count)."""
    n_test_good: int = 4
    n_test_per_defect: int = 2
    step_limit: int = 10
    """Most training steps of a model trained by steps (the demo profile's own count when lower)."""
    teacher_steps: int = 10


def sample_configs(sample: DemoSample, seed: int) -> dict[str, ModelConfig]:
    """Every model's demo-profile configuration, its training steps capped at ``sample.step_limit``."""
    from services.modeling.factory import profile_config

    configs = {model: profile_config(DEMO_PROFILE, model, seed) for model in MODEL_NAMES}
    return {
        model: replace(config, max_steps=min(config.max_steps, sample.step_limit)) for model, config in configs.items()
    }


def build_demo_sample(settings: Settings, sample: DemoSample, progress: Callable[[str], None] = print) -> list[Run]:
    """Synthetic data of one product, a teacher where none is found, every model at the demo profile (steps capped),
    and the similar-defect index: the demo's own code path on less data (browser journeys, load benchmarks)."""
    from services.data.synthetic import SynthConfig, generate_dataset
    from services.modeling.efficientad.teacher import TeacherKind, distill_teacher, resolve_teacher

    base = SynthConfig(seed=settings.seed)
    synth = replace(
        base,
        n_train=sample.n_train or base.n_train,
        n_test_good=sample.n_test_good,
        n_test_per_defect=sample.n_test_per_defect,
    )
    dataset = generate_dataset(settings.data_root / DEMO_DATASET, categories=(sample.category,), config=synth)
    if resolve_teacher(settings).kind == TeacherKind.RANDOM:
        distill_teacher(settings, steps=sample.teacher_steps)
    runs = _train(dataset, sample_configs(sample, settings.seed), sample.category, settings, progress)
    index_and_evaluate(runs, settings, progress)
    return runs


def _train(
    dataset: DatasetInfo,
    configs: dict[str, ModelConfig],
    category: str,
    settings: Settings,
    progress: Callable[[str], None],
) -> list[Run]:
    """Every configuration trained on ``category`` at the demo profile, on the settings' device."""
    from services.training.engine import run_benchmark

    return run_benchmark(
        dataset,
        configs,
        (category,),
        settings,
        profile=DEMO_PROFILE,
        device=settings.resolved_device(),
        progress=progress,
    )
