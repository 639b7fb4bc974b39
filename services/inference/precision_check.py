"""The check a reduced-precision forward (bf16 on OpenVINO, fp16 on CUDA) passes before the Detector uses it.

Check images: the run's normal training images (``train/good``, evenly spaced) and a pseudo-anomalous copy of each
(:func:`services.data.pseudo_anomalies.numbered_anomaly`, natural-photo patches and perturbations), so that the check
sees anomalous activations as well as normal ones. No test image or label is read. Random noise, the earlier probe,
saturates every score far above the threshold, where a drift means nothing.

Rule: on every check image, the score as the user sees it (normalised, clamped to [0, 1]) stays within the
tolerance of f32 and the verdict does not change; the map drift is reported, not gated (a pixel at a pasted
patch's edge may move more without changing the verdict). Tolerances: fp16 on CUDA keeps scores within 1e-3; the
OpenVINO backend may differ from anomalib's ``Engine.predict`` by 1e-2, and bf16 may use half of that, the other half
being margin for images the check has not seen. A bf16 verdict is cached beside the IR it judged, keyed by the check
images, the tolerance and the CPU, so a Detector reloads in a fraction of the time.

On the demo runs EfficientAd's bf16 passes and PatchCore's does not (nearest-neighbour distances amplify feature
error), so PatchCore stays f32; drifts and speed-ups are in docs/results.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from anomalib.models.components.base import AnomalibModule

from services.data.images import load_image
from services.data.pseudo_anomalies import numbered_anomaly
from services.modeling.scoring import ScoredBatch, rgb_inputs
from services.registry.artefacts import run_samples
from services.registry.runs import Run

MAX_TRAINING_IMAGES = 8  # with their copies: 16 check images
PSEUDO_ANOMALY_SEED = 0
FP16_TOLERANCE = 1e-3  # CUDA fp16
OPENVINO_TOLERANCE = 1e-2  # accepted gap between the OpenVINO backend and anomalib's Engine.predict
BF16_TOLERANCE = OPENVINO_TOLERANCE / 2
VERDICT_FILE = "precision.json"

Scorer = Callable[[torch.Tensor], ScoredBatch]


class PrecisionCheckError(RuntimeError):
    """The run's training images, which the check needs, cannot be read."""


def check_inputs(module: AnomalibModule, run: Run, max_pixels: int) -> torch.Tensor:
    """Pre-processed (N, 3, h, w): up to ``MAX_TRAINING_IMAGES`` training images, each followed by its copy."""
    record = run.record
    try:
        samples = run_samples(run, "train")
    except Exception as exc:  # a moved or missing dataset
        raise PrecisionCheckError(f"no training images to check on: {exc}") from exc
    if not samples:
        raise PrecisionCheckError(f"no training images to check on in {Path(record.dataset_root) / record.category}")
    picks = np.unique(np.linspace(0, len(samples) - 1, min(len(samples), MAX_TRAINING_IMAGES)).round().astype(int))
    images = []
    for n, i in enumerate(picks):
        rgb = load_image(samples[i].path, max_pixels=max_pixels).rgb
        anomalous, _ = numbered_anomaly(rgb, PSEUDO_ANOMALY_SEED, n)
        images += [rgb, anomalous]
    return rgb_inputs(module, images)


@dataclass(frozen=True)
class PrecisionVerdict:
    """What a reduced-precision forward did to the check images, against f32."""

    precision: str  # "bf16" or "fp16"
    tolerance: float
    images: int = 0
    score_drift: float = math.nan  # largest |score difference|, normalised and clamped scores
    map_drift: float = math.nan  # largest |map difference|, normalised and clamped maps
    flipped: int = 0  # check images whose verdict changed
    not_checked: str = ""  # why the check could not run

    @property
    def accepted(self) -> bool:
        """Checked, every score within the tolerance and every verdict kept."""
        return not self.not_checked and self.score_drift <= self.tolerance and self.flipped == 0

    def words(self) -> str:
        """The verdict for a backend note."""
        if self.not_checked:
            return f"not checked: {self.not_checked}"
        relation = "≤" if self.score_drift <= self.tolerance else ">"
        flips = f"{self.flipped} of them changed verdict" if self.flipped else "no verdict changed"
        return (
            f"score drift {self.score_drift:.1e} {relation} {self.tolerance:g}, map {self.map_drift:.1e}, {flips}, "
            f"on {self.images} training and pseudo-anomalous images"
        )


def compare(inputs: torch.Tensor, full: Scorer, reduced: Scorer, precision: str, tolerance: float) -> PrecisionVerdict:
    """Score ``inputs`` both ways and measure the drift."""
    reference, other = full(inputs), reduced(inputs)
    return PrecisionVerdict(
        precision=precision,
        tolerance=tolerance,
        images=len(inputs),
        score_drift=float(np.abs(np.clip(other.scores, 0, 1) - np.clip(reference.scores, 0, 1)).max()),
        map_drift=float(np.abs(np.clip(other.maps, 0, 1) - np.clip(reference.maps, 0, 1)).max()),
        flipped=int((other.labels != reference.labels).sum()),
    )


def check_precision(
    module: AnomalibModule,
    run: Run,
    max_pixels: int,
    scorers: tuple[Scorer, Scorer],
    *,
    precision: str,
    tolerance: float,
    cache: Path | None = None,
) -> PrecisionVerdict:
    """The verdict on ``scorers`` (f32, reduced) over the run's check images; read from, or written to, ``cache``
    (a folder) when given."""
    try:
        inputs = check_inputs(module, run, max_pixels)
    except PrecisionCheckError as exc:
        return PrecisionVerdict(precision=precision, tolerance=tolerance, not_checked=str(exc))
    if cache is None:
        return compare(inputs, *scorers, precision, tolerance)
    key = _cache_key(inputs, precision, tolerance)
    stored = _read_verdicts(cache / VERDICT_FILE)
    if isinstance(stored.get(key), dict) and stored[key].keys() == PrecisionVerdict.__dataclass_fields__.keys():
        return PrecisionVerdict(**stored[key])
    verdict = compare(inputs, *scorers, precision, tolerance)
    _write_verdicts(cache / VERDICT_FILE, {**stored, key: asdict(verdict)})
    return verdict


def _cpu_identity() -> str:
    """What decides how this CPU computes reduced precision: its model and instruction-set flags."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        lines = cpuinfo.read_text().splitlines()
        return "|".join(next((line for line in lines if line.startswith(key)), "") for key in ("model name", "flags"))
    return platform.processor() or platform.machine()


def _cache_key(inputs: torch.Tensor, precision: str, tolerance: float) -> str:
    digest = hashlib.sha256(inputs.cpu().numpy().tobytes())
    digest.update(f"{precision}|{tolerance!r}|{_cpu_identity()}".encode())
    return digest.hexdigest()[:16]


def _read_verdicts(path: Path) -> dict[str, dict]:
    try:
        verdicts = json.loads(path.read_text())
    except (OSError, ValueError):  # absent or damaged: check again
        return {}
    return verdicts if isinstance(verdicts, dict) else {}


def _write_verdicts(path: Path, verdicts: dict[str, dict]) -> None:
    """Write in one step (temporary file, then rename), so a concurrent reader never sees half a file. A folder that
    cannot be written (a read-only registry) only costs the next load a fresh check."""
    try:
        handle, partial = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(verdicts, file, indent=2, sort_keys=True)
        os.replace(partial, path)
    except OSError:
        return
    finally:
        Path(partial).unlink(missing_ok=True)
