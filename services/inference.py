"""The Detector: a registry run loaded once, predicting on image files or bytes without a Lightning Trainer.

Output maps and masks are at the input image's own resolution; scores are normalised to [0, 1] with the
calibrated threshold at 0.5, as anomalib does. A different threshold re-derives verdict, mask and regions from
the stored map (:meth:`Prediction.at_threshold`), so a threshold slider never re-runs the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from services.images import LoadedImage, load_image
from services.model_factory import load_model
from services.regions import DefectRegion, extract_regions
from services.registry import Run
from services.scoring import ScoredBatch, model_inputs, score_inputs
from services.settings import Settings
from services.visualization import resize_map

CALIBRATED_THRESHOLD = 0.5
FP16_TOLERANCE = 1e-3


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
    """A run's model in eval mode on one device; thread-compatible for concurrent predictions."""

    def __init__(self, run: Run, settings: Settings, device: str | None = None) -> None:
        self.run = run
        self.settings = settings
        self.device = device or settings.resolved_device()
        self.model = load_model(run.record.model, run.checkpoint, self.device)
        self.dtype = self._choose_dtype()

    @property
    def name(self) -> str:
        """``<model>/<run>`` for display."""
        return f"{self.run.record.model}/{self.run.record.run}"

    def _choose_dtype(self) -> torch.dtype:
        """fp16 on CUDA only where it keeps scores within ``FP16_TOLERANCE`` of fp32 on a probe batch."""
        if self.device != "cuda":
            return torch.float32
        probe = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
        reference = self._score(probe, torch.float32).scores
        try:
            half = self._score(probe, torch.float16).scores
        except RuntimeError:
            return torch.float32
        return torch.float16 if np.abs(half - reference).max() <= FP16_TOLERANCE else torch.float32

    def _score(self, images: torch.Tensor, dtype: torch.dtype) -> ScoredBatch:
        inputs, _ = model_inputs(self.model, images)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=dtype == torch.float16):
            return score_inputs(self.model, inputs.to(self.device))

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
        tensors = [torch.from_numpy(image.rgb).permute(2, 0, 1).float().div_(255.0) for image in images]
        inputs = torch.cat([model_inputs(self.model, tensor[None])[0] for tensor in tensors])
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=self.dtype == torch.float16):
            scored = score_inputs(self.model, inputs.to(self.device))
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
