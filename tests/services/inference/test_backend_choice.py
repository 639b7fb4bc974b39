"""BackendChoice.summary: the sentence people read is built from the fields, each case naming its own evidence."""

from __future__ import annotations

from pathlib import Path

from services.inference.backend_choice import BackendChoice
from services.inference.openvino_backend import IrExport
from services.inference.precision_check import PrecisionVerdict

IR = IrExport(xml=Path("run/openvino/0123abcd/model.xml"), exported=False, seconds=0.01)
PASSED = PrecisionVerdict("bf16", 5e-3, images=16, score_drift=4e-4, map_drift=2e-3)
REFUSED = PrecisionVerdict("bf16", 5e-3, images=16, score_drift=1.2e-2, map_drift=3e-2, flipped=2)


def test_requested_torch_says_only_that() -> None:
    assert BackendChoice("torch", "torch", "f32", "cpu").summary() == "requested"


def test_auto_names_the_timings_the_ir_and_the_bf16_verdict() -> None:
    choice = BackendChoice(
        "auto",
        "openvino",
        "bf16",
        "cpu",
        timings_ms={("openvino", "f32"): 41.6, ("openvino", "bf16"): 12.2, ("torch", "f32"): 80.0},
        ir=IR,
        precision_check=PASSED,
    )
    assert choice.summary() == (
        "auto: openvino is faster on cpu (openvino f32 42 ms vs openvino bf16 12 ms vs torch f32 80 ms per image, "
        "median at load); IR reused (0123abcd); bf16 (score drift 4.0e-04 ≤ 0.005, map 2.0e-03, no verdict changed, "
        "on 16 training and pseudo-anomalous images)"
    )


def test_a_passed_but_slower_bf16_and_a_refused_one_read_differently() -> None:
    slower = BackendChoice(
        "openvino",
        "openvino",
        "f32",
        "cpu",
        timings_ms={("openvino", "f32"): 30.0, ("openvino", "bf16"): 35.0},
        ir=IrExport(xml=IR.xml, exported=True, seconds=12.34),
        precision_check=PASSED,
    )
    assert slower.summary().startswith(
        "requested; openvino f32 is faster on cpu (openvino f32 30 ms vs openvino bf16 35 ms per image, median at "
        "load); IR exported in 12.3 s (0123abcd); f32 (bf16 is slower here, though it passed its check: score drift"
    )
    refused = BackendChoice("openvino", "openvino", "f32", "cpu", ir=IR, precision_check=REFUSED)
    assert refused.summary() == (
        "requested; IR reused (0123abcd); f32 (bf16 refused: score drift 1.2e-02 > 0.005, map 3.0e-02, "
        "2 of them changed verdict, on 16 training and pseudo-anomalous images)"
    )


def test_fallback_cuda_and_missing_bf16_name_their_reason() -> None:
    fallback = BackendChoice("auto", "torch", "f32", "cpu", fallback="FileExistsError: [Errno 17] File exists")
    assert fallback.summary() == "OpenVINO unavailable, using torch: FileExistsError: [Errno 17] File exists"
    fp16 = PrecisionVerdict("fp16", 1e-3, images=16, score_drift=2e-4, map_drift=5e-4)
    cuda = BackendChoice("auto", "torch", "fp16", "cuda", precision_check=fp16)
    assert cuda.summary().startswith("auto: OpenVINO runs on cpu only, so cuda runs torch; fp16 (score drift 2.0e-04")
    no_bf16 = BackendChoice("openvino", "openvino", "f32", "cpu", ir=IR, reduced_unavailable="this CPU has no bf16")
    assert no_bf16.summary() == "requested; IR reused (0123abcd); f32 (this CPU has no bf16)"
