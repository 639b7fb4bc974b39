"""Reading models trained elsewhere: every refusal names the file and the rule it breaks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from anomalib import PrecisionType
from anomalib.models.image.efficient_ad.torch_model import EfficientAdModelSize

from services.registry.imports import (
    ModelImportError,
    detect_model,
    import_format,
    import_run_name,
    ir_weights,
    project_checkpoint,
    read_checkpoint,
    read_torch_export,
)


def _lightning_file(path: Path, state: dict[str, torch.Tensor], hparams: dict[str, object] | None = None) -> Path:
    torch.save({"state_dict": state, "hyper_parameters": hparams or {}, "pytorch-lightning_version": "2.5.0"}, path)
    return path


def test_format_is_read_from_the_suffix(tmp_path: Path) -> None:
    for name, expected in (("a.ckpt", "ckpt"), ("b.XML", "openvino"), ("c.pt", "torch")):
        (tmp_path / name).write_bytes(b"x")
        assert import_format(tmp_path / name) == expected
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ModelImportError, match=r"model\.onnx: cannot import a \.onnx file; accepted"):
        import_format(tmp_path / "model.onnx")


def test_run_name_is_the_first_twelve_hex_of_the_sha256() -> None:
    assert import_run_name("0123456789abcdef" * 4) == "imported-0123456789ab"


def test_a_checkpoint_of_an_unsupported_model_names_the_file_and_the_accepted_models(tmp_path: Path) -> None:
    path = _lightning_file(tmp_path / "padim.ckpt", {"model.gaussian.mean": torch.zeros(2)})
    with pytest.raises(ModelImportError) as error:
        detect_model(read_checkpoint(path), path)
    message = str(error.value)
    assert "padim.ckpt" in message and "model.gaussian.mean" in message
    assert "not a model AnomalyLens serves" in message and "PatchCore or EfficientAd" in message


def test_the_model_is_found_from_its_weights_and_must_match_the_one_asked_for(tmp_path: Path) -> None:
    patchcore = _lightning_file(tmp_path / "p.ckpt", {"model.memory_bank": torch.zeros(4, 2)})
    efficientad = _lightning_file(tmp_path / "e.ckpt", {"model.teacher.conv1.weight": torch.zeros(1)})
    assert detect_model(read_checkpoint(patchcore), patchcore) == "patchcore"
    assert detect_model(read_checkpoint(efficientad), efficientad) == "efficientad"
    with pytest.raises(ModelImportError, match=r"p\.ckpt holds a patchcore model, not the efficientad asked for"):
        detect_model(read_checkpoint(patchcore), patchcore, requested="efficientad")


def test_a_corrupt_checkpoint_names_the_file_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(ModelImportError, match=r"checkpoint garbage\.ckpt is corrupt or truncated"):
        read_checkpoint(path)


def test_a_truncated_checkpoint_names_the_file_and_says_so(tmp_path: Path) -> None:
    path = _lightning_file(tmp_path / "cut.ckpt", {"model.memory_bank": torch.zeros(64, 64)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelImportError, match=r"checkpoint cut\.ckpt is corrupt or truncated"):
        read_checkpoint(path)


def test_a_checkpoint_holding_arbitrary_objects_is_not_unpickled(tmp_path: Path) -> None:
    path = _lightning_file(tmp_path / "odd.ckpt", {}, {"namespace": argparse.Namespace(a=1)})
    with pytest.raises(ModelImportError, match=r"checkpoint odd\.ckpt holds Python objects outside the allow-list"):
        read_checkpoint(path)


def test_a_file_without_state_dict_is_not_a_lightning_checkpoint(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.ckpt")
    with pytest.raises(ModelImportError, match=r"plain\.ckpt is not a Lightning checkpoint"):
        read_checkpoint(tmp_path / "plain.ckpt")


def test_an_ir_whose_bin_is_missing_names_both_files(tmp_path: Path) -> None:
    xml = tmp_path / "model.xml"
    xml.write_text("<net/>")
    with pytest.raises(ModelImportError, match=r"OpenVINO IR model\.xml has no weights file model\.bin beside it"):
        ir_weights(xml)
    (tmp_path / "model.bin").write_bytes(b"")
    assert ir_weights(xml) == tmp_path / "model.bin"


def test_a_torch_export_is_refused_without_trust_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"model": argparse.Namespace()}, path)
    with pytest.raises(ModelImportError) as error:
        read_torch_export(path, trust=False)
    message = str(error.value)
    assert message.startswith("model.pt refused:")
    assert "pickle" in message and "--trust" in message and "TRUST_REMOTE_CODE" in message


def test_a_trusted_torch_export_must_hold_an_anomalib_model(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"model": argparse.Namespace()}, path)
    with pytest.raises(ModelImportError, match=r"model\.pt is not an anomalib torch export"):
        read_torch_export(path, trust=True)


def test_stock_hyper_parameters_become_the_project_classes(tmp_path: Path) -> None:
    patchcore = {"state_dict": {}, "hyper_parameters": {"pre_trained": True, "precision": PrecisionType.FLOAT32}}
    assert project_checkpoint(patchcore, "patchcore")["hyper_parameters"] == {
        "pre_trained": False,
        "precision": "float32",
    }
    efficientad = {
        "state_dict": {},
        "hyper_parameters": {"imagenet_dir": "./datasets/imagenette", "model_size": EfficientAdModelSize.M},
    }
    assert project_checkpoint(efficientad, "efficientad")["hyper_parameters"] == {"model_size": "medium"}
    assert patchcore["hyper_parameters"]["pre_trained"] is True, "the checkpoint read is left unchanged"
