"""End-to-end latency per image (PNG bytes → decoded → scored → defect regions): the Detector per model × backend
× device against anomalib's ``TorchInferencer`` (``export_type="torch"``) on the same checkpoint, side by side.

Usage: ``TQDM_DISABLE=1 HF_HUB_OFFLINE=1 python benchmarks/bench_latency.py [--run RUN_FOLDER ...] [--repeats 5]``

* Input: 256×256 PNG bytes of synthetic test images of the run's category (one good, three defects), rendered in
  memory by :func:`services.data.synthetic.render_sample`.
* Pipelines, all from the same bytes to the same regions (same decoding, map resizing and region extraction; only the
  model call differs): ``Detector`` with ``backend="torch"`` and ``backend="openvino"`` (CPU only), and
  ``TorchInferencer`` loading the run's module exported with ``to_torch``. Devices: cpu, and cuda when available.
* Each pipeline is warmed up on every image, then the repeats are interleaved (pipeline A, B, C for each image, in
  turn), so load from other processes hits all of them over the same period. Figures: p50 and p95 over all
  images × repeats, and the ratio of each Detector p50 to the TorchInferencer p50 on the same device (below 1 = the
  Detector is faster). ``cpu ms`` is the process's CPU time per image over all its threads (p50): contention inflates
  it less than wall time (threads spinning at a barrier still add to it); with 2 idle cores the wall time of a
  2-thread pipeline is about half of it.
* Also printed: what ``backend="auto"`` chooses at load and why, and the load time of each Detector (the first
  OpenVINO load of a run includes its export into ``<run>/openvino/``).
* Without ``--run`` it first trains two tiny runs in a temporary registry (PatchCore and EfficientAd at 256 px on the
  tiny synthetic tile set, EfficientAd 3 steps) and says so: their latency is representative, their accuracy is not.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

PROJECT_ROOT = Path(__file__).resolve().parents[1]
N_DEFECT_IMAGES = 3
INPUT_SIZE = 256


@dataclass(frozen=True)
class Pipeline:
    """One way from image bytes to defect regions."""

    label: str
    device: str
    run: Callable[[bytes], object]
    load_s: float


@dataclass(frozen=True)
class Latency:
    """Per-image milliseconds of one pipeline."""

    p50: float
    p95: float
    cpu_p50: float
    samples: int


def _train_tiny_runs(root: Path) -> list[Path]:
    from services.data.datasets import open_dataset
    from services.data.synthetic import SynthConfig, generate_dataset
    from services.modeling.factory import profile_config
    from services.settings import Settings
    from services.training.engine import run_benchmark

    settings = Settings(data_root=root / "data", registry_dir=root / "models", weights_dir=root / "models" / "weights")
    config = SynthConfig.tiny().with_size(INPUT_SIZE)
    dataset = open_dataset(generate_dataset(root / "synthetic", categories=("tile",), config=config).root, ("tile",))
    configs = {
        "patchcore": replace(profile_config("demo", "patchcore", seed=0), coreset_ratio=0.2),
        "efficientad": replace(profile_config("demo", "efficientad", seed=0), max_steps=3),
    }
    runs = run_benchmark(dataset, configs, ("tile",), settings, profile="demo", device="cpu", progress=lambda _: None)
    return [run.path for run in runs]


def _test_images(category: str) -> list[bytes]:
    """PNG bytes of one good and a few defective synthetic images of ``category`` at 256 px."""
    from services.data.datasets import NORMAL, check_category
    from services.data.synthetic import SynthConfig, render_sample

    config = SynthConfig(image_size=INPUT_SIZE)
    kinds = [NORMAL, *check_category(category)[:N_DEFECT_IMAGES]]
    images = []
    for kind in kinds:
        buffer = io.BytesIO()
        Image.fromarray(render_sample(category, "test", kind, 0, config).image).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def _timed_load(build: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    built = build()
    return built, time.perf_counter() - started


def _detector_pipelines(run_path: Path, device: str) -> tuple[list[Pipeline], str]:
    """The Detector on each backend that runs on ``device``, and what ``auto`` chooses there."""
    from services.inference.detector import Detector
    from services.registry.runs import load_run
    from services.settings import get_settings

    run, settings = load_run(run_path), get_settings()
    pipelines = []
    for backend in ("torch", "openvino") if device == "cpu" else ("torch",):
        detector, load_s = _timed_load(lambda b=backend: Detector(run, settings, device=device, backend=b))
        label = f"Detector {detector.choice.backend} {detector.choice.precision}" + (
            "" if detector.choice.backend == backend else f" (asked {backend})"
        )
        pipelines.append(Pipeline(label=label, device=device, run=detector.predict, load_s=load_s))
    auto = Detector(run, settings, device=device)
    return pipelines, f"auto on {device} → {auto.choice.backend}: {auto.choice.summary()}"


def _torch_inferencer_pipeline(run_path: Path, device: str, export_root: Path) -> Pipeline:
    """anomalib's TorchInferencer on the run's module exported with ``to_torch``, then the same map and regions."""
    from anomalib.deploy import TorchInferencer

    from services.data.images import load_image
    from services.modeling.factory import load_model
    from services.postprocessing.regions import CALIBRATED_THRESHOLD, extract_regions
    from services.postprocessing.visualization import resize_map
    from services.registry.runs import load_run
    from services.settings import get_settings

    run, max_pixels = load_run(run_path), get_settings().max_image_pixels
    exported = load_model(run.record.model, run.checkpoint).to_torch(export_root / device)
    os.environ["TRUST_REMOTE_CODE"] = "1"  # TorchInferencer unpickles the whole module: our own, trusted file
    inferencer, load_s = _timed_load(lambda: TorchInferencer(path=exported, device=device))

    def predict(data: bytes) -> object:
        image = load_image(data, max_pixels=max_pixels)
        batch = inferencer.predict(image.rgb)
        raw = batch.anomaly_map.detach().float().cpu().numpy().reshape(batch.anomaly_map.shape[-2:])
        anomaly_map = np.clip(resize_map(raw, image.height, image.width), 0.0, 1.0)
        return extract_regions(anomaly_map, anomaly_map > CALIBRATED_THRESHOLD)

    return Pipeline(label="TorchInferencer", device=device, run=predict, load_s=load_s)


def _measure(pipelines: list[Pipeline], images: list[bytes], repeats: int) -> dict[str, Latency]:
    """p50/p95 per pipeline after a warm-up on every image; repeats interleaved across pipelines."""
    wall: dict[str, list[float]] = {pipeline.label: [] for pipeline in pipelines}
    cpu: dict[str, list[float]] = {pipeline.label: [] for pipeline in pipelines}
    for repeat in range(repeats + 1):
        for image in images:
            for pipeline in pipelines:
                started, started_cpu = time.perf_counter(), time.process_time()
                pipeline.run(image)
                if repeat:
                    wall[pipeline.label].append((time.perf_counter() - started) * 1000)
                    cpu[pipeline.label].append((time.process_time() - started_cpu) * 1000)
    return {
        label: Latency(
            p50=float(np.percentile(ms, 50)),
            p95=float(np.percentile(ms, 95)),
            cpu_p50=float(np.percentile(cpu[label], 50)),
            samples=len(ms),
        )
        for label, ms in wall.items()
    }


def _bench_run(run_path: Path, devices: list[str], repeats: int, export_root: Path) -> list[str]:
    from services.registry.runs import load_run

    record = load_run(run_path).record
    images = _test_images(record.category)
    size = record.config.get("image_size")
    print(f"\n{record.model} / {record.dataset} / {record.category} / {record.run} (model input {size} px): {run_path}")
    rows = []
    for device in devices:
        pipelines, auto_note = _detector_pipelines(run_path, device)
        pipelines.append(_torch_inferencer_pipeline(run_path, device, export_root / record.model))
        print(f"  {auto_note}")
        print("  load: " + ", ".join(f"{p.label} {p.load_s:.1f} s" for p in pipelines))
        latency = _measure(pipelines, images, repeats)
        reference = latency["TorchInferencer"].p50
        for label, figures in latency.items():
            ratio = figures.p50 / reference
            rows.append(
                f"| {record.model} | {record.category} | {size} | {device} | {label} "
                f"| {figures.p50:.0f} | {figures.p95:.0f} | {figures.cpu_p50:.0f} "
                f"| {ratio:.2f} (×{1 / ratio:.1f} faster) | {figures.samples} |"
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", type=Path, default=[], help="a run folder (repeatable)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the test images per pipeline")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT_ROOT))
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    with tempfile.TemporaryDirectory() as work:
        runs = args.run
        if not runs:
            print("no --run given: training two tiny runs (PatchCore, EfficientAd 3 steps; 256 px tile) in", work)
            runs = _train_tiny_runs(Path(work) / "tiny")
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, devices "
            f"{', '.join(devices)}; input {INPUT_SIZE}×{INPUT_SIZE} PNG bytes, 1 good + {N_DEFECT_IMAGES} defects, "
            f"{args.repeats} interleaved repeats; load average {os.getloadavg()[0]:.1f} (other processes slow every "
            "figure, torch's threads most)"
        )
        rows = [row for run in runs for row in _bench_run(run, devices, args.repeats, Path(work) / "exports")]
    print(
        "\n| model | category | px | device | pipeline | p50 ms | p95 ms | cpu ms | p50 / TorchInferencer | samples |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
