"""The Detector: a registry run loaded once, predicting on image files or bytes without a Lightning Trainer.

Output maps and masks are at the input image's own resolution; scores are normalised to [0, 1] with the
calibrated threshold at 0.5, as anomalib does. A different threshold re-derives verdict, mask and regions from
the stored map (:meth:`Prediction.at_threshold`), so a threshold slider never re-runs the model.

Two backends run the model itself: torch (any device) and, on CPU, the run's OpenVINO IR
(:mod:`services.openvino_backend`). Both feed raw outputs through the same pre- and post-processing
(:func:`services.scoring.score_inputs`), so a :class:`Prediction` means the same whichever ran.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from services.images import LoadedImage, load_image
from services.model_factory import load_model
from services.openvino_backend import IrModel, cpu_computes_bf16, ensure_ir
from services.precision_check import PrecisionCheckError, check_inputs
from services.regions import CALIBRATED_THRESHOLD, DefectRegion, extract_regions
from services.registry import Run
from services.scoring import RawForward, ScoredBatch, model_inputs, rgb_inputs, score_inputs
from services.settings import Settings
from services.visualization import resize_map

REDUCED_PRECISION_TOLERANCE = 1e-3  # on normalised, clamped scores: the fp16 rule, applied to bf16 too
BACKENDS = ("auto", "torch", "openvino")
AUTO_REPEATS = 3  # timed forwards per backend when ``auto`` chooses at load, after one warm-up each


@dataclass(frozen=True)
class Prediction:
    """One image's verdict from one model run."""

    image_name: str
    model: str
    run: str
    score: float
    threshold: float
    anomaly_map: np.ndarray  # (H, W) float32 in [0, 1] at the input image's resolution
    regions: tuple[DefectRegion, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def is_anomalous(self) -> bool:
        """The verdict: score above the threshold."""
        return self.score > self.threshold

    @property
    def mask(self) -> np.ndarray:
        """Pixels above the threshold."""
        return self.anomaly_map > self.threshold

    def at_threshold(self, threshold: float) -> Prediction:
        """The same prediction judged at another threshold (verdict, mask and regions change; the map does not)."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        regions = tuple(extract_regions(self.anomaly_map, self.anomaly_map > threshold))
        return replace(self, threshold=threshold, regions=regions)


class Detector:
    """A run's model in eval mode on one device; thread-compatible for concurrent predictions.

    ``backend``: ``torch``; ``openvino`` (CPU only; the IR is exported into the run folder at first use); or ``auto``:
    torch on CUDA, and on CPU whichever of OpenVINO and torch is faster on a probe image at load. An OpenVINO export
    or compile failure falls back to torch. :attr:`backend` says what runs, :attr:`backend_note` why, and
    :attr:`precision` in which arithmetic (reduced only where check images show it keeps scores, see
    :mod:`services.precision_check`).
    """

    def __init__(self, run: Run, settings: Settings, device: str | None = None, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not accepted; use one of {', '.join(BACKENDS)}")
        self.run = run
        self.settings = settings
        self.device = device or settings.resolved_device()
        if backend == "openvino" and self.device != "cpu":
            raise ValueError(f"the openvino backend runs on cpu only, not {self.device}; use backend torch or auto")
        self.model = load_model(run.record.model, run.checkpoint, self.device)
        self.backend, self.backend_note, self._forward = self._choose_backend(backend)
        self.dtype = self._choose_dtype()

    @property
    def name(self) -> str:
        """``<model>/<run>`` for display."""
        return f"{self.run.record.model}/{self.run.record.run}"

    @property
    def precision(self) -> str:
        """The arithmetic of the model's forward: ``f32``, ``bf16`` (OpenVINO) or ``fp16`` (torch on CUDA)."""
        if isinstance(self._forward, IrModel):
            return self._forward.precision
        return "fp16" if self.dtype == torch.float16 else "f32"

    def _probe_inputs(self, n: int) -> torch.Tensor:
        """``n`` seeded random 256 px images, pre-processed for the model."""
        probe = torch.rand(n, 3, 256, 256, generator=torch.Generator().manual_seed(0))
        return model_inputs(self.model, probe)[0]

    def _choose_backend(self, requested: str) -> tuple[str, str, RawForward]:
        torch_forward: RawForward = self.model.model
        if requested == "torch":
            return "torch", "requested", torch_forward
        if self.device != "cpu":
            return "torch", f"auto: OpenVINO runs on cpu only, so {self.device} runs torch", torch_forward
        probe = self._probe_inputs(1)
        try:
            ir = ensure_ir(self.model, self.run, tuple(probe.shape))
            ir_forward, precision_note = self._ir_precision(IrModel(ir.xml))
        except Exception as exc:  # any export or compile failure leaves torch, which always runs
            return "torch", f"OpenVINO unavailable, using torch: {type(exc).__name__}: {exc}", torch_forward
        origin = f"IR exported in {ir.seconds:.1f} s" if ir.exported else "IR reused"
        if requested == "openvino":
            return "openvino", f"requested; {origin} ({ir.xml.parent.name}); {precision_note}", ir_forward
        forwards = {"openvino": ir_forward, "torch": torch_forward}
        latency = self._median_ms(forwards, probe)
        chosen = min(latency, key=latency.__getitem__)
        figures = " vs ".join(f"{name} {ms:.0f} ms" for name, ms in latency.items())
        note = f"auto: {chosen} is faster on cpu ({figures} per image, median of {AUTO_REPEATS} at load); {origin}"
        return chosen, note + (f"; {precision_note}" if chosen == "openvino" else ""), forwards[chosen]

    def _ir_precision(self, full: IrModel) -> tuple[IrModel, str]:
        """bf16 where the CPU runs it natively and it keeps scores within ``REDUCED_PRECISION_TOLERANCE`` of f32."""
        if not cpu_computes_bf16():
            return full, "f32 (this CPU has no native bf16)"
        reduced = IrModel(full.xml, "bf16")
        accepted, drift = self._precision_drift(full, reduced)
        return (reduced, f"bf16 ({drift})") if accepted else (full, f"f32 (bf16 refused: {drift})")

    def _precision_drift(self, full: RawForward, reduced: RawForward) -> tuple[bool, str]:
        """Whether ``reduced`` keeps every score of the check images (:mod:`services.precision_check`) within
        ``REDUCED_PRECISION_TOLERANCE`` of ``full``, and the drift in words.

        Scores and maps are compared as the user sees them, normalised and clamped to [0, 1]; the map drift is
        reported, not gated (a pixel at a pasted patch's edge may move more without changing the verdict). Measured
        on the demo runs (AMX CPU): EfficientAd bf16 score drift tile 4.8e-4, leather 4.6e-5 (bf16 used, the IR about
        5× faster), grid 1.1e-3 (refused); PatchCore 9.8e-3 to 1.6e-2 (nearest-neighbour distances amplify feature
        error), so it stays f32.
        """
        try:
            inputs = check_inputs(self.model, self.run, self.settings.max_image_pixels).to(self.device)
        except PrecisionCheckError as exc:
            return False, f"not checked: {exc}"
        reference, other = score_inputs(self.model, inputs, full), score_inputs(self.model, inputs, reduced)
        scores = float(np.abs(other.scores - reference.scores).max())
        maps = float(np.abs(other.maps - reference.maps).max())
        within = scores <= REDUCED_PRECISION_TOLERANCE
        relation = "≤" if within else ">"
        words = f"score drift {scores:.1e} {relation} {REDUCED_PRECISION_TOLERANCE:g}, map {maps:.1e}"
        return within, f"{words} on {len(inputs)} training and pseudo-anomalous images"

    def _median_ms(self, forwards: dict[str, RawForward], inputs: torch.Tensor) -> dict[str, float]:
        """Median milliseconds of each forward with post-processing, after one warm-up, repeats interleaved."""
        times: dict[str, list[float]] = {name: [] for name in forwards}
        for repeat in range(AUTO_REPEATS + 1):
            for name, forward in forwards.items():
                started = time.perf_counter()
                score_inputs(self.model, inputs, forward)
                if repeat:
                    times[name].append((time.perf_counter() - started) * 1000)
        return {name: statistics.median(values) for name, values in times.items()}

    def _choose_dtype(self) -> torch.dtype:
        """fp16 on CUDA only where it keeps scores within ``REDUCED_PRECISION_TOLERANCE`` of fp32 on a probe batch."""
        if self.device != "cuda":
            return torch.float32
        probe = self._probe_inputs(2)
        reference = self._score(probe, torch.float32).scores
        try:
            half = self._score(probe, torch.float16).scores
        except RuntimeError:
            return torch.float32
        return torch.float16 if np.abs(half - reference).max() <= REDUCED_PRECISION_TOLERANCE else torch.float32

    def _score(self, inputs: torch.Tensor, dtype: torch.dtype) -> ScoredBatch:
        """Pre-processed inputs through the chosen backend and the post-processor."""
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dtype == torch.float16):
            return score_inputs(self.model, inputs.to(self.device), self._forward)

    def predict(self, source: bytes | Path | LoadedImage, name: str | None = None) -> Prediction:
        """Decode (when given bytes or a path), score and extract defect regions."""
        return self.predict_batch([source], [name])[0]

    def predict_batch(
        self, sources: list[bytes | Path | LoadedImage], names: list[str | None] | None = None
    ) -> list[Prediction]:
        """Predict several images; each keeps its own size (resized for the model, maps resized back)."""
        names = names or [None] * len(sources)
        started = time.perf_counter()
        images = [
            source
            if isinstance(source, LoadedImage)
            else load_image(source, name=name, max_pixels=self.settings.max_image_pixels)
            for source, name in zip(sources, names, strict=True)
        ]
        decoded = time.perf_counter()
        inputs = rgb_inputs(self.model, [image.rgb for image in images])
        scored = self._score(inputs, self.dtype)
        modelled = time.perf_counter()
        predictions = []
        for i, image in enumerate(images):
            anomaly_map = np.clip(resize_map(scored.maps[i], image.height, image.width), 0.0, 1.0)
            regions = tuple(extract_regions(anomaly_map, anomaly_map > CALIBRATED_THRESHOLD))
            predictions.append(
                Prediction(
                    image_name=image.name,
                    model=self.run.record.model,
                    run=self.run.record.run,
                    score=float(scored.scores[i]),
                    threshold=CALIBRATED_THRESHOLD,
                    anomaly_map=anomaly_map,
                    regions=regions,
                )
            )
        finished = time.perf_counter()
        per_image = {
            "decode": (decoded - started) * 1000 / len(images),
            "model": (modelled - decoded) * 1000 / len(images),
            "regions": (finished - modelled) * 1000 / len(images),
            "total": (finished - started) * 1000 / len(images),
        }
        return [replace(p, timings_ms=per_image) for p in predictions]
