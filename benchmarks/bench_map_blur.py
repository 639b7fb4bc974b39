"""PatchCore map smoothing: anomalib's 2-D Gaussian convolution against the separable one, side by side.

Usage: ``python benchmarks/bench_map_blur.py [--sides 256 512] [--repeats 20]``

For each map side the sigma is :func:`services.modeling.patchcore.maps.map_sigma_for` of it (4 px at 256, 8 px at
512); both blurs run on the same random maps, interleaved, and the script prints the median ms per map of each, their
ratio and the largest difference between their outputs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _time_once(blur: Callable[[torch.Tensor], torch.Tensor], maps: torch.Tensor, samples: list[float]) -> None:
    """Append the ms one call of ``blur`` on ``maps`` takes to ``samples``."""
    started = time.perf_counter()
    blur(maps)
    samples.append((time.perf_counter() - started) * 1000)


def main(argv: Sequence[str] | None = None) -> int:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    from anomalib.models.components import GaussianBlur2d

    from services.modeling.patchcore.maps import SeparableGaussianBlur, map_sigma_for

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"torch threads {torch.get_num_threads()}")
    print("| map side | sigma | kernel | anomalib 2-D ms | separable ms | ratio | max abs diff |")
    print("|---|---|---|---|---|---|---|")
    with torch.inference_mode():
        for side in args.sides:
            sigma = map_sigma_for(side)
            full, separable = GaussianBlur2d(sigma=(sigma, sigma), channels=1), SeparableGaussianBlur(sigma=sigma)
            maps = torch.rand(1, 1, side, side, generator=torch.Generator().manual_seed(0))
            full(maps), separable(maps)
            times: dict[str, list[float]] = {"full": [], "separable": []}
            for _ in range(args.repeats):
                _time_once(full, maps, times["full"])
                _time_once(separable, maps, times["separable"])
            full_ms, separable_ms = statistics.median(times["full"]), statistics.median(times["separable"])
            diff = float((full(maps) - separable(maps)).abs().max())
            print(
                f"| {side} | {sigma:g} | {full.kernel.shape[-1]} | {full_ms:.1f} | {separable_ms:.1f} | "
                f"×{full_ms / separable_ms:.1f} | {diff:.1e} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
