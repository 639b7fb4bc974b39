"""Train and evaluate one (model, category) with anomalib's Engine and write the run to the registry."""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
from anomalib.engine import Engine
from lightning.pytorch import seed_everything
from PIL import Image

from services.data.datasets import DatasetInfo
from services.data.images import read_rgb
from services.data.protocol import EvaluationProtocol, ProtocolDataModule, build_protocol
from services.modeling.factory import build_model
from services.modeling.model_config import ModelConfig, concrete
from services.modeling.model_table import model_spec
from services.modeling.scoring import Thresholds
from services.postprocessing.visualization import panel
from services.registry import runs as registry
from services.registry.runs import Run, RunMetrics, metric_text
from services.settings import Settings
from services.training.calibration import calibrate
from services.training.evaluation import ScoredTestSet, compute_metrics, image_curves, score_samples
from services.training.product_gate import write_product_gate

PANELS_PER_DEFECT = 2
LIBRARIES = ("anomalib", "torch", "torchvision", "timm", "lightning", "numpy", "qdrant-client", "streamlit")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunRequest:
    """One (model, category) to train on a dataset, with the profile it belongs to."""

    dataset: DatasetInfo
    category: str
    config: ModelConfig
    profile: str
    device: str


class PeakRss:
    """Samples this process's resident memory in a thread; ``peak_mb`` is the highest value seen."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def current_mb() -> float:
        """Resident set size now, from /proc (0 where /proc is absent)."""
        status = Path("/proc/self/status")
        if not status.is_file():
            return 0.0
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.current_mb())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.current_mb())


def _engine(request: RunRequest, work_dir: Path) -> Engine:
    steps = request.config.max_steps
    # Step-trained models (EfficientAd): validate (thresholds, map quantiles) once, at the last step, not every epoch.
    extra = (
        {"max_steps": steps, "max_epochs": -1, "check_val_every_n_epoch": None, "val_check_interval": steps}
        if model_spec(request.config.model).trains_by_steps
        else {}
    )
    return Engine(
        accelerator="gpu" if request.device == "cuda" else "cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(work_dir),
        **extra,
    )


def _quiet_libraries() -> None:
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning_fabric",
        "pytorch_lightning",
        "anomalib",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", module="anomalib")


def _write_predictions(path: Path, scores: ScoredTestSet, root: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["image_path", "defect_type", "gt_label", "score", "raw_score", "pred_label", "mask_path", "raw_map_peak"]
        )
        scored = scores.scored
        for i, sample in enumerate(scores.samples):
            writer.writerow(
                [
                    str(sample.path.relative_to(root)),
                    sample.defect_type,
                    int(sample.is_anomalous),
                    f"{scored.scores[i]:.6f}",
                    f"{scored.raw_scores[i]:.6f}",
                    int(scored.labels[i]),
                    str(sample.mask_path.relative_to(root)) if sample.mask_path else "",
                    f"{scored.raw_maps[i].max():.6f}",
                ]
            )


def _write_maps(path: Path, scores: ScoredTestSet, root: Path) -> None:
    np.savez_compressed(
        path,
        image_paths=np.array([str(s.path.relative_to(root)) for s in scores.samples]),
        maps=scores.scored.maps.astype(np.float16),
        scores=scores.scored.scores.astype(np.float32),
        gt_masks=np.packbits(scores.gt_masks, axis=-1),
        gt_mask_width=np.array(scores.gt_masks.shape[-1]),
    )


def _write_panels(folder: Path, scores: ScoredTestSet) -> None:
    folder.mkdir(exist_ok=True)
    written: dict[str, int] = {}
    height, width = scores.gt_masks.shape[-2:]
    for i, sample in enumerate(scores.samples):
        if written.get(sample.defect_type, 0) >= PANELS_PER_DEFECT:
            continue
        written[sample.defect_type] = written.get(sample.defect_type, 0) + 1
        rgb = np.asarray(Image.fromarray(read_rgb(sample.path)).resize((width, height), Image.Resampling.BILINEAR))
        image = panel(rgb, scores.scored.maps[i], scores.scored.masks[i], scores.gt_masks[i])
        Image.fromarray(image).save(folder / f"{sample.defect_type}_{sample.path.stem}.png", optimize=True)


def write_test_artefacts(out: Path, scores: ScoredTestSet, root: Path) -> None:
    """A run's test results for the pages: per-image scores, ROC/PR curves, maps and a few heatmap panels."""
    _write_predictions(out / registry.PREDICTIONS, scores, root)
    (out / registry.CURVES).write_text(json.dumps({k: asdict(v) for k, v in image_curves(scores).items()}))
    _write_maps(out / registry.MAPS, scores, root)
    _write_panels(out / registry.HEATMAPS, scores)


def library_versions() -> dict[str, str]:
    """The versions of the libraries a run depends on, for its record."""
    return {name: version(name) for name in LIBRARIES}


def train_and_evaluate(
    request: RunRequest, settings: Settings, protocol: EvaluationProtocol, progress: Progress = print
) -> Run:
    """Fit on the protocol's train split, calibrate on validation, score the test split, write the run folder.

    The run is written into a partial sibling folder and moved into place once complete: a complete run or nothing.
    """
    config = request.config
    final = registry.run_dir(settings, request.dataset.name, config.model, request.category, config.run_name())
    with registry.partial_run(final) as out:
        _write_run(out, request, settings, protocol, progress)
    return registry.load_run(final)


def _write_run(
    out: Path, request: RunRequest, settings: Settings, protocol: EvaluationProtocol, progress: Progress
) -> None:
    _quiet_libraries()
    seed_everything(request.config.seed, workers=True, verbose=False)
    config = request.config
    progress(f"{config.model}/{request.category}: building model")
    built = build_model(config, settings)
    model = built.module
    spec = model_spec(config.model)
    batch = spec.train_batch_size
    datamodule = ProtocolDataModule(protocol, train_batch_size=batch, eval_batch_size=8)
    with tempfile.TemporaryDirectory() as work, PeakRss() as memory:
        engine = _engine(request, Path(work))
        progress(f"{config.model}/{request.category}: fitting on {len(protocol.train)} normal images")
        started = time.perf_counter()
        engine.fit(model=model, datamodule=datamodule)
        if not np.isfinite(Thresholds.of(model).image):
            engine.validate(model=model, datamodule=datamodule, verbose=False)
        calibration, normal_scores = calibrate(
            model, protocol.validation_normals, settings.false_alarm_budget, request.device, spec.threshold_rule
        )
        write_product_gate(out, protocol, settings, request.device)
        fit_s = time.perf_counter() - started
        engine.trainer.save_checkpoint(out / registry.CHECKPOINT)
        progress(f"{config.model}/{request.category}: scoring {len(protocol.test)} test images")
        started = time.perf_counter()
        scores = score_samples(model, protocol.test, device=request.device)
        test_ms = (time.perf_counter() - started) * 1000 / len(protocol.test)
    metrics = compute_metrics(scores)
    thresholds = Thresholds.of(model)
    root = request.dataset.root
    write_test_artefacts(out, scores, root)
    normal_scores.write(out)
    record = RunMetrics(
        dataset=request.dataset.name,
        dataset_version=request.dataset.version,
        dataset_fingerprint=request.dataset.fingerprint,
        model=config.model,
        category=request.category,
        run=config.run_name(),
        profile=request.profile,
        metrics=metrics.as_dict(),
        unavailable=metrics.unavailable,
        thresholds=asdict(thresholds),
        config={**config.as_dict(), **built.provenance},
        protocol={**protocol.describe(), "calibration": calibration.as_dict()},
        timings={
            "fit_s": round(fit_s, 3),
            "test_ms_per_image": round(test_ms, 3),
            "peak_rss_mb": round(memory.peak_mb),
        },
        versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        device=request.device,
        dataset_root=str(request.dataset.root),
    )
    (out / registry.METRICS).write_text(record.to_json())
    registry.write_manifest(out)
    progress(
        f"{config.model}/{request.category}: image AUROC {metric_text(metrics.image_auroc)}, pixel AUROC "
        f"{metric_text(metrics.pixel_auroc)}, fit {fit_s:.0f} s"
    )


def run_benchmark(
    dataset: DatasetInfo,
    configs: dict[str, ModelConfig],
    categories: tuple[str, ...],
    settings: Settings,
    *,
    profile: str,
    device: str,
    progress: Progress = print,
    on_run_done: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Every (model, category) in turn; the validation split of a category is built once and shared."""
    runs = []
    for category in categories:
        protocol = build_protocol(dataset, category, settings, seed=settings.seed)
        for config in (concrete(c, settings) for c in configs.values()):
            request = RunRequest(dataset=dataset, category=category, config=config, profile=profile, device=device)
            run = train_and_evaluate(request, settings, protocol, progress)
            runs.append(run)
            if on_run_done:
                on_run_done(run)
    return runs
