"""The Detector: a registry run loaded once, predicting on image files or bytes without a Lightning Trainer.

Output maps and masks are at the input image's own resolution; scores are normalised to [0, 1] with the
calibrated threshold at 0.5, as anomalib does. A different threshold re-derives verdict, mask and regions from
the stored map (:meth:`Prediction.at_threshold`), so a threshold slider never re-runs the model.

Two backends run the model itself: torch (any device) and, on CPU, the run's OpenVINO IR
(:mod:`services.inference.openvino_backend`). Both feed raw outputs through the same pre- and post-processing
(:func:`services.modeling.scoring.score_inputs`), so a :class:`Prediction` means the same whichever ran. A run
imported as an OpenVINO IR alone (:mod:`services.inference.imported_ir`) runs on OpenVINO only.

A run trained with a product gate (:mod:`services.training.product_gate`) also measures each upload's global
descriptor against its product's normals: :attr:`Prediction.foreign` says whether it looks like that product at all.
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
from services.inference.backend_choice import BackendChoice
from services.inference.imported_ir import ImportedIr
from services.inference.openvino_backend import IrExport, IrModel, cpu_computes_bf16, ensure_ir
from services.inference.precision_check import BF16_TOLERANCE, FP16_TOLERANCE, PrecisionVerdict, Scorer, check_precision
from services.modeling.factory import load_model
from services.modeling.image_descriptor import ImageDescriptor
from services.modeling.scoring import RawForward, ScoredBatch, model_inputs, rgb_inputs, score_inputs
from services.modeling.torch_threads import one_torch_thread
from services.postprocessing.regions import CALIBRATED_THRESHOLD, DefectRegion, extract_regions
from services.postprocessing.visualization import resize_map
from services.registry.integrity import verify_model
from services.registry.run_calibration import run_calibration
from services.registry.runs import Run
from services.settings import Settings
from services.training.product_gate import ForeignCheck, ProductGate

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
    pixel_threshold: float | None = None
    """The map's threshold (masks, regions) when it differs from the image score's."""
    foreign: ForeignCheck | None = None
    """The upload against the run's product gate; ``None`` for a run without one."""
    raw_score: float | None = None
    """The score in the model's own units, before normalisation (``None`` where it is not known)."""

    @property
    def map_threshold(self) -> float:
        """The threshold the anomaly map is judged at: the pixel one, else the image one."""
        return self.threshold if self.pixel_threshold is None else self.pixel_threshold

    @property
    def is_foreign(self) -> bool:
        """Whether the gate judged the upload not to be this product (its verdict then means nothing)."""
        return self.foreign is not None and self.foreign.is_foreign

    @property
    def is_anomalous(self) -> bool:
        """The verdict: score above the threshold."""
        return self.score > self.threshold

    @property
    def mask(self) -> np.ndarray:
        """Pixels above the map's threshold."""
        return self.anomaly_map > self.map_threshold

    def at_threshold(self, threshold: float, pixel_threshold: float | None = None) -> Prediction:
        """The same prediction judged at other thresholds, image and pixel (default: the image one); verdict, mask
        and regions change, the map does not."""
        pixel = threshold if pixel_threshold is None else pixel_threshold
        for value in (threshold, pixel):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold must be within [0, 1], got {value}")
        regions = tuple(extract_regions(self.anomaly_map, self.anomaly_map > pixel))
        return replace(self, threshold=threshold, pixel_threshold=pixel, regions=regions)

    def at_budget(self, run: Run, budget: float) -> Prediction:
        """Judged at ``run``'s image and pixel thresholds for the false-alarm budget; at its own (0.5) where the run
        has no normal scores to fit them to (the Inspect page's default and the folder watcher's)."""
        judged = run_calibration(run, budget)
        if judged is None:
            return self.at_threshold(CALIBRATED_THRESHOLD)
        return self.at_threshold(judged.image_threshold, judged.pixel_threshold)


class Detector:
    """A run's model in eval mode on one device; thread-compatible for concurrent predictions.

    ``backend``: ``torch``; ``openvino`` (CPU only; the IR is exported into the run folder at first use); or ``auto``:
    torch on CUDA, and on CPU whichever of OpenVINO and torch is faster on a probe image at load. An OpenVINO export
    or compile failure falls back to torch. :attr:`choice` says what runs, in which arithmetic, and why
    (:class:`services.inference.backend_choice.BackendChoice`). Reduced precision is a candidate only where it passes
    :func:`services.inference.precision_check.check_precision` (bf16 on CPUs that compute it natively, fp16 on CUDA),
    and bf16 is then used only where it times faster than f32 at load (on CPUs without AMX it may not be).
    """

    def __init__(self, run: Run, settings: Settings, device: str | None = None, backend: str = "auto") -> None:
        """Load the run's model; raises ``ModelIntegrityError`` (naming the file) when it differs from its manifest."""
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not accepted; use one of {', '.join(BACKENDS)}")
        verify_model(run)
        self.run = run
        self.settings = settings
        self.device = device or settings.resolved_device()
        if backend == "openvino" and self.device != "cpu":
            raise ValueError(f"the openvino backend runs on cpu only, not {self.device}; use backend torch or auto")
        with one_torch_thread():  # the backends are timed as they will serve
            if run.checkpoint.is_file():
                self.model = load_model(run.record.model, run.checkpoint, self.device)
                self._forward, choice = self._choose_backend(backend)
            else:
                self.model, self._forward, choice = self._imported_ir(backend)
            self.choice = self._choose_fp16(choice)
        self._dtype = torch.float16 if self.choice.precision == "fp16" else torch.float32
        self.gate = ProductGate.read(run.path)
        self._descriptor = ImageDescriptor(settings, self.device) if self.gate is not None else None

    @property
    def name(self) -> str:
        """``<model>/<run>`` for display."""
        return f"{self.run.record.model}/{self.run.record.run}"

    def _probe_input(self) -> torch.Tensor:
        """One seeded random 256 px image, pre-processed for the model: what ``auto`` times the backends on."""
        probe = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
        return model_inputs(self.model, probe)[0]

    def _imported_ir(self, requested: str) -> tuple[ImportedIr, RawForward, BackendChoice]:
        """A run holding only an imported OpenVINO IR: it runs on OpenVINO on CPU, in f32, or not at all."""
        if requested == "torch" or self.device != "cpu":
            raise ValueError(
                f"run {self.run.path} holds only an imported OpenVINO IR ({self.run.ir.name}), no torch checkpoint: "
                f"it runs with backend openvino or auto on cpu, not backend {requested} on {self.device}"
            )
        module = ImportedIr(self.run.ir)
        ir = IrExport(xml=self.run.ir, exported=False, seconds=0.0)
        only = "an imported IR, the only model this run holds"
        choice = BackendChoice(requested, "openvino", "f32", self.device, ir=ir, reduced_unavailable=only)
        return module, module.model, choice

    def _choose_backend(self, requested: str) -> tuple[RawForward, BackendChoice]:
        """The forward to run and why: torch where asked or off CPU, else the OpenVINO IR (f32, or bf16 where it
        passes its check), and under ``auto`` whichever candidate times fastest on the probe."""
        torch_forward: RawForward = self.model.model
        on_torch = BackendChoice(requested=requested, backend="torch", precision="f32", device=self.device)
        if requested == "torch" or self.device != "cpu":
            return torch_forward, on_torch
        probe = self._probe_input()
        try:
            ir = ensure_ir(self.model, self.run, tuple(probe.shape))
            full = IrModel(ir.xml)
            reduced, verdict = self._bf16_candidate(full)
        except Exception as exc:  # any export or compile failure leaves torch, which always runs
            return torch_forward, replace(on_torch, fallback=f"{type(exc).__name__}: {exc}")
        forwards: dict[tuple[str, str], RawForward] = {("openvino", "f32"): full}
        if reduced is not None:
            forwards["openvino", "bf16"] = reduced
        if requested == "auto":
            forwards["torch", "f32"] = torch_forward
        timings = self._median_ms(forwards, probe) if len(forwards) > 1 else {}
        backend, precision = min(timings, key=timings.__getitem__) if timings else ("openvino", "f32")
        return forwards[backend, precision], BackendChoice(
            requested=requested,
            backend=backend,
            precision=precision,
            device=self.device,
            timings_ms=timings,
            ir=ir,
            precision_check=verdict,
            reduced_unavailable="this CPU has no native bf16" if verdict is None else "",
        )

    def _bf16_candidate(self, full: IrModel) -> tuple[IrModel | None, PrecisionVerdict | None]:
        """The bf16 IR where the CPU computes bf16 natively and it passes :func:`check_precision` (the verdict is
        cached beside the IR), with the verdict; ``None`` for both where this CPU has no native bf16."""
        if not cpu_computes_bf16():
            return None, None
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
        return (reduced() if verdict.accepted else None), verdict

    def _scorer(self, forward: RawForward, dtype: torch.dtype = torch.float32) -> Scorer:
        """Pre-processed CPU inputs → scored batch through ``forward`` on this Detector's device."""

        def score(inputs: torch.Tensor) -> ScoredBatch:
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dtype == torch.float16):
                return score_inputs(self.model, inputs.to(self.device), forward)

        return score

    def _median_ms(
        self, forwards: dict[tuple[str, str], RawForward], inputs: torch.Tensor
    ) -> dict[tuple[str, str], float]:
        """Median milliseconds of each forward with post-processing, after one warm-up, repeats interleaved."""
        times: dict[tuple[str, str], list[float]] = {name: [] for name in forwards}
        for repeat in range(AUTO_REPEATS + 1):
            for name, forward in forwards.items():
                started = time.perf_counter()
                score_inputs(self.model, inputs, forward)
                if repeat:
                    times[name].append((time.perf_counter() - started) * 1000)
        return {name: statistics.median(values) for name, values in times.items()}

    def _choose_fp16(self, choice: BackendChoice) -> BackendChoice:
        """On CUDA, ``choice`` in fp16 where the forward passes :func:`check_precision` at ``FP16_TOLERANCE``, with
        the verdict; elsewhere ``choice`` unchanged."""
        if self.device != "cuda":
            return choice
        scorers = (self._scorer(self._forward), self._scorer(self._forward, torch.float16))
        try:
            pixels = self.settings.max_image_pixels
            verdict = check_precision(self.model, self.run, pixels, scorers, precision="fp16", tolerance=FP16_TOLERANCE)
        except RuntimeError as exc:  # a layer without an fp16 kernel
            verdict = PrecisionVerdict("fp16", FP16_TOLERANCE, not_checked=f"{type(exc).__name__}: {exc}")
        return replace(choice, precision="fp16" if verdict.accepted else choice.precision, precision_check=verdict)

    def _foreign_checks(self, images: list[LoadedImage]) -> list[ForeignCheck | None]:
        """Each image against the run's product gate; ``None`` each where the run has no gate."""
        if self.gate is None or self._descriptor is None:
            return [None] * len(images)
        return list(self.gate.check(self._descriptor.describe([image.rgb for image in images])))

    def predict(self, source: bytes | Path | LoadedImage, name: str | None = None) -> Prediction:
        """Decode (when given bytes or a path), score and extract defect regions."""
        return self.predict_batch([source], [name])[0]

    def predict_batch(
        self, sources: list[bytes | Path | LoadedImage], names: list[str | None] | None = None
    ) -> list[Prediction]:
        """Predict several images; each keeps its own size (resized for the model, maps resized back)."""
        with one_torch_thread():
            return self._predict_batch(sources, names or [None] * len(sources))

    def _predict_batch(self, sources: list[bytes | Path | LoadedImage], names: list[str | None]) -> list[Prediction]:
        started = time.perf_counter()
        images = [
            source
            if isinstance(source, LoadedImage)
            else load_image(source, name=name, max_pixels=self.settings.max_image_pixels)
            for source, name in zip(sources, names, strict=True)
        ]
        decoded = time.perf_counter()
        inputs = rgb_inputs(self.model, [image.rgb for image in images])
        scored = self._scorer(self._forward, self._dtype)(inputs)
        modelled = time.perf_counter()
        checks = self._foreign_checks(images)
        gated = time.perf_counter()
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
                    raw_score=float(scored.raw_scores[i]),
                    threshold=CALIBRATED_THRESHOLD,
                    anomaly_map=anomaly_map,
                    regions=regions,
                    foreign=checks[i],
                )
            )
        finished = time.perf_counter()
        per_image = {
            "decode": (decoded - started) * 1000 / len(images),
            "model": (modelled - decoded) * 1000 / len(images),
            "gate": (gated - modelled) * 1000 / len(images),
            "regions": (finished - gated) * 1000 / len(images),
            "total": (finished - started) * 1000 / len(images),
        }
        return [replace(p, timings_ms=per_image) for p in predictions]
