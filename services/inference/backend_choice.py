"""What runs a Detector's model (backend, arithmetic, device) and the evidence for it, as typed fields.

The Detector fills one :class:`BackendChoice` at load; the page and the latency benchmark render it with
:meth:`BackendChoice.summary`, and tests read its fields, so the decision is never parsed back out of a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.inference.openvino_backend import IrExport
from services.inference.precision_check import PrecisionVerdict


@dataclass(frozen=True)
class BackendChoice:
    """The Detector's backend and precision, what was asked, and the timings, checks and failures that decided."""

    requested: str  # "auto", "torch" or "openvino", as the Detector was asked
    backend: str  # "torch" or "openvino": what runs
    precision: str  # "f32", "bf16" (OpenVINO) or "fp16" (torch on CUDA): the forward's arithmetic
    device: str
    # median milliseconds per image of each candidate timed at load, keyed (backend, precision); empty when one ran
    timings_ms: dict[tuple[str, str], float] = field(default_factory=dict)
    ir: IrExport | None = None  # the OpenVINO IR, exported or reused; None where OpenVINO was not tried or failed
    fallback: str = ""  # why OpenVINO could not run ("<error type>: <message>"), so torch runs instead
    precision_check: PrecisionVerdict | None = None  # the reduced-precision check (bf16 on OpenVINO, fp16 on CUDA)
    reduced_unavailable: str = ""  # why no reduced precision was a candidate where one could apply

    def summary(self) -> str:
        """Why this backend and arithmetic, in one line for people (the Inspect page's hover, the benchmark log)."""
        parts = [self._why_backend()]
        if self.ir is not None:
            origin = f"IR exported in {self.ir.seconds:.1f} s" if self.ir.exported else "IR reused"
            parts.append(f"{origin} ({self.ir.xml.parent.name})")
        parts.append(self._why_precision())
        return "; ".join(part for part in parts if part)

    def _why_backend(self) -> str:
        if self.fallback:
            return f"OpenVINO unavailable, using torch: {self.fallback}"
        if self.requested == "auto" and self.device != "cpu":
            return f"auto: OpenVINO runs on cpu only, so {self.device} runs torch"
        if not self.timings_ms:
            return "requested"
        figures = " vs ".join(f"{name} {precision} {ms:.0f} ms" for (name, precision), ms in self.timings_ms.items())
        timed = f"faster on {self.device} ({figures} per image, median at load)"
        if self.requested == "auto":
            return f"auto: {self.backend} is {timed}"
        return f"requested; {self.backend} {self.precision} is {timed}"

    def _why_precision(self) -> str:
        if self.reduced_unavailable:
            return f"{self.precision} ({self.reduced_unavailable})"
        check = self.precision_check
        if check is None:
            return ""
        if self.precision == check.precision:
            return f"{self.precision} ({check.words()})"
        if check.accepted:
            return f"{self.precision} ({check.precision} is slower here, though it passed its check: {check.words()})"
        return f"{self.precision} ({check.precision} refused: {check.words()})"
