"""The Detector: a registry run loaded once, predicting on image files or bytes without a Lightning Trainer.

Output maps and masks are at the input image's own resolution; scores are normalised to [0, 1] with the
calibrated threshold at 0.5, as anomalib does. A different threshold re-derives verdict, mask and regions from
the stored map (:meth:`Prediction.at_threshold`), so a threshold slider never re-runs the model.

Two backends run the model itself: torch (any device) and, on CPU, the run's OpenVINO IR
(:mod:`services.inference.openvino_backend`). Both feed raw outputs through the same pre- and post-processing
(:func:`services.modeling.scoring.score_inputs`), so a :class:`Prediction` means the same whichever ran.
"""

from __future__ import annotations

import functools
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from anomalib.data import InferenceBatch

from services.data.images import LoadedImage, load_image
from services.inference.openvino_backend import IrModel, cpu_computes_bf16, ensure_ir
from services.inference.precision_check import BF16_TOLERANCE, FP16_TOLERANCE, Scorer, check_precision
from services.modeling.factory import load_model
from services.modeling.scoring import RawForward, ScoredBatch, model_inputs, rgb_inputs, score_inputs
from services.postprocessing.regions import CALIBRATED_THRESHOLD, DefectRegion, extract_regions
from services.postprocessing.visualization import resize_map
from services.registry.runs import Run
from services.settings import Settings

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
    :attr:`precision` in which arithmetic. Reduced precision is a candidate only where it passes
    :func:`services.inference.precision_check.check_precision` (bf16 on CPUs that compute it natively, fp16 on CUDA),
    and bf16
    is then used only where it times faster than f32 at load (on CPUs without AMX it may not be).
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
        self.dtype, fp16_note = self._choose_dtype()
        self.backend_note += f"; {fp16_note}" if fp16_note else ""

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

    def _probe_input(self) -> torch.Tensor:
        """One seeded random 256 px image, pre-processed for the model: what ``auto`` times the backends on."""
        probe = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
        return model_inputs(self.model, probe)[0]

    def _choose_backend(self, requested: str) -> tuple[str, str, RawForward]:
        torch_forward: RawForward = self.model.model
        if requested == "torch":
            return "torch", "requested", torch_forward
        if self.device != "cpu":
            return "torch", f"auto: OpenVINO runs on cpu only, so {self.device} runs torch", torch_forward
        probe = self._probe_input()
        try:
            ir = ensure_ir(self.model, self.run, tuple(probe.shape))
            full = IrModel(ir.xml)
            reduced, bf16_note = self._bf16_candidate(full)
        except Exception as exc:  # any export or compile failure leaves torch, which always runs
            return "torch", f"OpenVINO unavailable, using torch: {type(exc).__name__}: {exc}", torch_forward
        origin = f"IR exported in {ir.seconds:.1f} s" if ir.exported else "IR reused"
        forwards: dict[str, RawForward] = {"openvino f32": full}
        if reduced is not None:
            forwards["openvino bf16"] = reduced
        if requested == "auto":
            forwards["torch"] = torch_forward
        latency = self._median_ms(forwards, probe) if len(forwards) > 1 else {}
        chosen = min(latency, key=latency.__getitem__) if latency else "openvino f32"
        forward = forwards[chosen]
        backend = "openvino" if isinstance(forward, IrModel) else "torch"
        figures = " vs ".join(f"{name} {ms:.0f} ms" for name, ms in latency.items())
        timed = f"faster on cpu ({figures} per image, median of {AUTO_REPEATS} at load)"
        head = f"auto: {backend} is {timed}" if requested == "auto" else "requested"
        head += f"; {chosen} is {timed}" if requested != "auto" and latency else ""
        if not isinstance(forward, IrModel):
            return backend, f"{head}; {origin}", forward
        if forward.precision == "bf16":
            bf16_note = f"bf16 ({bf16_note})"
        elif reduced is not None:
            bf16_note = f"f32 (bf16 is slower here, though it passed its check: {bf16_note})"
        return backend, f"{head}; {origin} ({ir.xml.parent.name}); {bf16_note}", forward

    def _bf16_candidate(self, full: IrModel) -> tuple[IrModel | None, str]:
        """The bf16 IR where the CPU computes bf16 natively and it passes :func:`check_precision` (the verdict is
        cached beside the IR), with the verdict in words; otherwise ``None`` and why."""
        if not cpu_computes_bf16():
            return None, "f32 (this CPU has no native bf16)"
        reduced = functools.cache(lambda: IrModel(full.xml, "bf16"))  # compiled only when checked or used

        def reduced_forward(inputs: torch.Tensor) -> InferenceBatch:
            return reduced()(inputs)

        verdict = check_precision(
            self.model,
            self.run,
            self.settings.max_image_pixels,
            (self._scorer(full), self._scorer(reduced_forward)),
            precision="bf16",
            tolerance=BF16_TOLERANCE,
            cache=full.xml.parent,
        )
        return (reduced(), verdict.words()) if verdict.accepted else (None, f"f32 (bf16 refused: {verdict.words()})")

    def _scorer(self, forward: RawForward, dtype: torch.dtype = torch.float32) -> Scorer:
        """Pre-processed CPU inputs → scored batch through ``forward`` on this Detector's device."""

        def score(inputs: torch.Tensor) -> ScoredBatch:
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dtype == torch.float16):
                return score_inputs(self.model, inputs.to(self.device), forward)

        return score

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

    def _choose_dtype(self) -> tuple[torch.dtype, str]:
        """fp16 on CUDA only where it passes :func:`check_precision` at ``FP16_TOLERANCE``, and why."""
        if self.device != "cuda":
            return torch.float32, ""
        scorers = (self._scorer(self._forward), self._scorer(self._forward, torch.float16))
        try:
            pixels = self.settings.max_image_pixels
            verdict = check_precision(self.model, self.run, pixels, scorers, precision="fp16", tolerance=FP16_TOLERANCE)
        except RuntimeError as exc:  # a layer without an fp16 kernel
            return torch.float32, f"f32 (fp16 failed: {exc})"
        if verdict.accepted:
            return torch.float16, f"fp16 ({verdict.words()})"
        return torch.float32, f"f32 (fp16 refused: {verdict.words()})"

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
        scored = self._scorer(self._forward, self.dtype)(inputs)
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
