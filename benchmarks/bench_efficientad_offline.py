"""Offline EfficientAd on this machine: teacher distillation step, EfficientAd train step and eval forward.

Usage: ``TQDM_DISABLE=1 python benchmarks/bench_efficientad_offline.py [--repeats 5] [--device cpu]``

One run, everything measured side by side after one warm-up each:

* distillation: seconds per step of :data:`services.modeling.efficientad.teacher.CPU_SCHEDULE` (crop generation,
  backbone target, PDN forward/backward/Adam) — the default ``distill-teacher`` schedule on CPU;
* EfficientAd-S train step (batch 1 plus one penalty image, losses, backward, Adam), exactly
  ``EfficientAdModel.forward`` in training mode, and the eval forward (anomaly map), for the distilled teacher's
  width (152 channels) against the official teacher's width (384), at 256 px, repeats interleaved. 128 px is
  attempted to show why it is refused: anomalib's autoencoder needs at least 256 px;
* the 152-channel train step in fp32 against bf16 autocast (the demo profile's ``bf16_training``), interleaved,
  where the device computes bf16 natively.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up
    return statistics.median(_seconds(action) for _ in range(repeats))


def _distillation_step_seconds(repeats: int, device: str) -> float:
    from services.data.natural_images import natural_photos, random_crops
    from services.modeling.efficientad.teacher import (
        CPU_SCHEDULE,
        LEARNING_RATE,
        DistillationTarget,
        crops_to_tensor,
        distillation_loss,
        new_pdn,
    )

    photos, rng = natural_photos(), np.random.default_rng(0)
    target = DistillationTarget().to(device)
    crop_size = 2 * CPU_SCHEDULE.image_size
    target.fit_normalisation(crops_to_tensor(random_crops(photos, 16, crop_size, rng), device))
    pdn = new_pdn(target.out_channels, seed=0).to(device)
    optimizer = torch.optim.Adam(pdn.parameters(), lr=LEARNING_RATE)

    def step() -> None:
        batch = crops_to_tensor(random_crops(photos, CPU_SCHEDULE.batch_size, crop_size, rng), device)
        loss = distillation_loss(pdn, target, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return _median_seconds(step, repeats)


def _efficientad_actions(
    channels: int, size: int, device: str, bf16: bool = False
) -> tuple[Callable[[], None], Callable[[], None]]:
    from anomalib.models.image.efficient_ad.torch_model import EfficientAdModel

    model = EfficientAdModel(teacher_out_channels=channels).to(device)
    optimizer = torch.optim.Adam([*model.student.parameters(), *model.ae.parameters()], lr=1e-4)
    image, penalty = torch.rand(1, 3, size, size, device=device), torch.rand(1, 3, size, size, device=device)

    def train_step() -> None:
        model.train()
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss = sum(model(image, penalty))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def eval_forward() -> None:
        model.eval()
        with torch.no_grad():
            model(image)

    return train_step, eval_forward


def _compare_widths(size: int, widths: tuple[int, ...], repeats: int, device: str) -> dict[int, tuple[float, float]]:
    """Median train-step and eval seconds per teacher width, repeats interleaved across widths (A B A B …)."""
    actions = {width: _efficientad_actions(width, size, device) for width in widths}
    for train_step, eval_forward in actions.values():  # warm-up
        train_step()
        eval_forward()
    times: dict[int, tuple[list[float], list[float]]] = {width: ([], []) for width in widths}
    for _ in range(repeats):
        for width, (train_step, eval_forward) in actions.items():
            times[width][0].append(_seconds(train_step))
            times[width][1].append(_seconds(eval_forward))
    return {width: (statistics.median(train), statistics.median(evals)) for width, (train, evals) in times.items()}


def _compare_precisions(repeats: int, device: str) -> tuple[float, float]:
    """Median train-step seconds at 256 px, 152 ch, in fp32 and under bf16 autocast (as ``bf16_training``)."""
    steps = {bf16: _efficientad_actions(152, 256, device, bf16=bf16)[0] for bf16 in (False, True)}
    for step in steps.values():  # warm-up
        step()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for bf16, step in steps.items():
            times[bf16].append(_seconds(step))
    return statistics.median(times[False]), statistics.median(times[True])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    sys.path.insert(0, str(PROJECT_ROOT))
    from services.modeling.efficientad.teacher import CPU_SCHEDULE

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
        f"median of {args.repeats}, load average {os.getloadavg()[0]:.1f} (other processes slow every figure)"
    )
    distil = _distillation_step_seconds(args.repeats, args.device)
    print(
        f"distillation step ({CPU_SCHEDULE.batch_size} crops at {CPU_SCHEDULE.image_size} px): {distil:.2f} s; "
        f"default schedule of {CPU_SCHEDULE.steps} steps ≈ {distil * CPU_SCHEDULE.steps / 60:.1f} min"
    )
    widths = (152, 384)
    try:
        _compare_widths(128, widths[:1], 1, args.device)
    except RuntimeError as exc:
        print(f"EfficientAd-S at 128 px fails in anomalib's autoencoder: {str(exc).splitlines()[0][:100]}")
    results = _compare_widths(256, widths, args.repeats, args.device)
    for width, (train, evaluation) in results.items():
        print(
            f"EfficientAd-S 256 px, batch 1, teacher {width} ch: "
            f"train step {train:.2f} s, eval forward {evaluation:.3f} s"
        )
    (ours_train, ours_eval), (official_train, official_eval) = results[152], results[384]
    print(
        f"384 ch / 152 ch at 256 px: train step ×{official_train / ours_train:.2f}, "
        f"eval ×{official_eval / ours_eval:.2f}"
    )
    from services.modeling.efficientad.model import bf16_native

    if bf16_native(torch.device(args.device)):
        fp32, bf16 = _compare_precisions(args.repeats, args.device)
        print(f"train step fp32 {fp32:.2f} s vs bf16 autocast {bf16:.2f} s: ×{fp32 / bf16:.2f} faster")
    else:
        print(f"{args.device} has no native bf16: bf16_training stays off there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
