"""Checkpoint safety: every weights file is read with ``weights_only`` under an explicit allow-list; a pickle that
would run code is refused with the file named, and its code never runs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from anomalib import PrecisionType

from services.modeling.backbones import BackboneError, _read_state_dict
from services.modeling.efficientad.teacher import teacher_out_channels
from services.modeling.factory import load_model
from services.modeling.safe_load import UnsafeCheckpointError, checkpoint_allow_list, load_weights
from services.settings import PROJECT_ROOT

SERVICES = PROJECT_ROOT / "services"
TRUSTED_PICKLE = ("services/registry/imports.py", "read_torch_export")
"""The one place a pickle is read in full: a torch .pt export, only after the user's --trust."""


class WritesAFile:
    """Unpickling this opens (creates) ``target`` for writing: the harmless stand-in for a malicious payload."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.target), "w")


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A Lightning-shaped checkpoint whose hyper-parameters hold the payload."""
    torch.save(
        {"state_dict": {"model.memory_bank": torch.zeros(2, 2)}, "hyper_parameters": {"x": WritesAFile(marker)}}, path
    )
    return path


def assert_refused(error: pytest.ExceptionInfo[BaseException], label: str, marker: Path) -> None:
    message = str(error.value)
    assert message.startswith(f"{label} holds Python objects outside the allow-list of safe types (io.open)")
    assert "reading them could run code" in message and "Accepted: tensors, plain values" in message
    assert "--trust" in message
    assert not marker.exists(), "the payload ran"


def test_a_registry_checkpoint_with_a_malicious_pickle_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    checkpoint = malicious_checkpoint(tmp_path / "model.ckpt", marker)
    with pytest.raises(UnsafeCheckpointError) as error:
        load_model("patchcore", checkpoint)
    assert_refused(error, f"checkpoint {checkpoint}", marker)


def test_a_malicious_teacher_file_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    teacher = tmp_path / "teacher.pth"
    torch.save({"conv4.weight": torch.zeros(4, 1, 1, 1), "payload": WritesAFile(marker)}, teacher)
    with pytest.raises(UnsafeCheckpointError) as error:
        teacher_out_channels(teacher)
    assert_refused(error, f"teacher {teacher}", marker)


def test_a_malicious_backbone_weights_file_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    weights = tmp_path / "wide_resnet50_2.pth"
    torch.save({"conv1.weight": WritesAFile(marker)}, weights)
    with pytest.raises(UnsafeCheckpointError) as error:
        _read_state_dict(weights)
    assert_refused(error, f"weights file {weights}", marker)


def test_plain_weights_and_allow_listed_types_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"precision": PrecisionType.FLOAT32}}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"anomalib\.PrecisionType"):
        load_weights(path)
    loaded = load_weights(path, allowed=checkpoint_allow_list())
    assert loaded["hyper_parameters"]["precision"] is PrecisionType.FLOAT32
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2))


def test_a_corrupt_weights_file_keeps_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(BackboneError, match=r"broken\.pth is not a readable weights file"):
        _read_state_dict(path)


def _calls(tree: ast.AST) -> list[tuple[ast.Call, str]]:
    """Every call in ``tree`` with its dotted callee (``torch.load``, ``np.load``, ``x.load_from_checkpoint``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found.append((node, ast.unparse(node.func)))
    return found


def _keyword(call: ast.Call, name: str) -> object:
    return next((ast.literal_eval(k.value) for k in call.keywords if k.arg == name), None)


def _enclosing_function(tree: ast.AST, call: ast.Call) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(inner is call for inner in ast.walk(node)):
            return node.name
    return ""


def test_every_load_in_services_is_weights_only_with_an_allow_list_or_the_trusted_export() -> None:
    problems = []
    for path in sorted(SERVICES.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        tree = ast.parse(path.read_text())
        for call, callee in _calls(tree):
            where = f"{relative}:{call.lineno} {callee}"
            if callee == "torch.load":
                trusted = (relative, _enclosing_function(tree, call)) == TRUSTED_PICKLE
                if relative != "services/modeling/safe_load.py" and not trusted:
                    problems.append(f"{where}: read weights through safe_load.load_weights")
                elif not trusted and _keyword(call, "weights_only") is not True:
                    problems.append(f"{where}: weights_only=True")
            elif callee.endswith("load_from_checkpoint") and _keyword(call, "weights_only") is not True:
                problems.append(f"{where}: weights_only=True")
            elif callee in ("np.load", "numpy.load") and _keyword(call, "allow_pickle") is not False:
                problems.append(f"{where}: allow_pickle=False")
            elif callee in ("pickle.load", "pickle.loads", "joblib.load", "torch.jit.load"):
                problems.append(f"{where}: no pickle outside the trusted export")
    assert problems == []
