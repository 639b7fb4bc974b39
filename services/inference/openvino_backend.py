"""A run's model as an OpenVINO IR on CPU: exported once into the run folder's ``openvino/`` cache, then compiled.

Only the torch model (``module.model``) is exported, through anomalib's export mixin with the module's pre- and
post-processor detached, so the IR maps pre-processed inputs to the same raw ``pred_score`` and ``anomaly_map`` as
the torch model. The pre-processing transform and the post-processor's normalisation stay in torch
(:mod:`services.modeling.scoring`), shared by both backends.

Cache: ``<run>/openvino/<key>/{model.xml, model.bin, export.json}``. ``key`` hashes the checkpoint's sha256, the
input shape and the torch, anomalib and openvino versions, so a changed checkpoint or library gets a fresh export.
An export is written into ``openvino/.partial-*`` and renamed into place in one step, so concurrent loaders never
read half a model. The registry keeps ``openvino/`` out of the run's manifest
(:data:`services.registry.runs.EXPORT_CACHE`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from anomalib.data import InferenceBatch
from anomalib.models.components.base import AnomalibModule

from services.registry.integrity import current_sha256
from services.registry.runs import EXPORT_CACHE, Run

IR_FILE = "model.xml"
RECORD_FILE = "export.json"
EXPORT_LIBRARIES = ("torch", "anomalib", "openvino")
# torch's exporter writes opset 18 whatever anomalib asks (14); asking for 18 skips a down-conversion that fails
# noisily. No dynamic axes: PatchCore's graph fixes the batch anyway (at 2).
ONNX_KWARGS = {"dynamic_axes": {}, "opset_version": 18, "verbose": False}
# Precision is always explicit: on AVX512-BF16/AMX CPUs OpenVINO's default is bf16, whatever the IR holds.
PRECISIONS = ("f32", "bf16")


class OpenVinoExportError(RuntimeError):
    """The model could not be exported to, or compiled from, an OpenVINO IR."""


@dataclass(frozen=True)
class IrExport:
    """Where a run's IR lies and whether this call had to make it."""

    xml: Path
    exported: bool  # False: reused from the cache
    seconds: float  # export time, or cache lookup time when reused


def _export_record(run: Run, input_shape: tuple[int, ...]) -> dict[str, object]:
    return {
        "checkpoint_sha256": current_sha256(run.checkpoint),
        "input_shape": list(input_shape),
        **{library: version(library) for library in EXPORT_LIBRARIES},
    }


@contextmanager
def _model_only(module: AnomalibModule) -> Iterator[AnomalibModule]:
    """The module with its pre- and post-processor detached, so its forward is the raw torch model."""
    pre, post = module.pre_processor, module.post_processor
    module.pre_processor = module.post_processor = None
    try:
        yield module
    finally:
        module.pre_processor, module.post_processor = pre, post


def ensure_ir(module: AnomalibModule, run: Run, input_shape: tuple[int, ...]) -> IrExport:
    """The run's IR for inputs of ``input_shape`` (1, 3, h, w): reused from the cache, else exported now (slow)."""
    started = time.perf_counter()
    record = _export_record(run, input_shape)
    key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    target = run.path / EXPORT_CACHE / key
    if (target / IR_FILE).is_file():
        return IrExport(xml=target / IR_FILE, exported=False, seconds=time.perf_counter() - started)
    target.parent.mkdir(exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        with _model_only(module) as model_only:
            xml = model_only.to_openvino(partial, input_size=tuple(input_shape[-2:]), onnx_kwargs=dict(ONNX_KWARGS))
        (xml.parent / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True))
        with suppress(OSError):  # a concurrent loader may have published the same export first
            xml.parent.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if not (target / IR_FILE).is_file():
        raise OpenVinoExportError(f"exporting {run.checkpoint} did not produce {target / IR_FILE}")
    return IrExport(xml=target / IR_FILE, exported=True, seconds=time.perf_counter() - started)


def cpu_computes_bf16() -> bool:
    """Whether OpenVINO's CPU plugin runs bf16 natively here (AVX512-BF16 or AMX); elsewhere bf16 is no faster."""
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class IrModel:
    """A compiled IR with the torch model's calling convention: pre-processed (N, 3, h, w) in, raw outputs out."""

    def __init__(self, xml: Path, precision: str = "f32") -> None:
        import openvino

        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not accepted; use one of {', '.join(PRECISIONS)}")
        self.xml = xml
        self.precision = precision
        config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = openvino.Core().compile_model(xml, "CPU", config)
        names = {output.get_any_name() for output in self.compiled.outputs}
        if not {"pred_score", "anomaly_map"} <= names:
            raise OpenVinoExportError(f"{xml} outputs {sorted(names)}; expected raw pred_score and anomaly_map")

    def __call__(self, inputs: torch.Tensor) -> InferenceBatch:
        """Raw scores and maps, one image per inference (the IR has a static batch of 1)."""
        request = self.compiled.create_infer_request()  # one per call: concurrent predictions never share buffers
        images = inputs.detach().cpu().float().numpy()
        results = [request.infer({0: np.ascontiguousarray(image[None])}) for image in images]
        return InferenceBatch(
            pred_score=torch.from_numpy(np.concatenate([result["pred_score"] for result in results])),
            anomaly_map=torch.from_numpy(np.concatenate([result["anomaly_map"] for result in results])),
        )
