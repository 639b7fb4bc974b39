"""A run imported as an OpenVINO IR alone: written by ``import-run``, listed by the registry, served by the Detector
on OpenVINO (torch refused), on a hand-built IR whose score is the image's mean grey level."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops
from PIL import Image

from services.access import local_user
from services.cli.commands import main
from services.data.categories import CATEGORY_RULE
from services.data.errors import DatasetError
from services.inference.detector import Detector
from services.inference.model_import import STAGING, ImportRequest, import_run
from services.registry.imports import ModelImportError
from services.registry.runs import Run, list_runs
from services.settings import Settings, get_settings

SIDE = 8


def _mean_ir(folder: Path) -> Path:
    """An IR with anomalib's output names: the map is the channel mean, the score its maximum (already in [0, 1])."""
    image = ops.parameter([1, 3, SIDE, SIDE], np.float32, name="input")
    anomaly_map = ops.reduce_mean(image, ops.constant(np.array([1], dtype=np.int64)), keep_dims=True)
    pred_score = ops.reduce_max(anomaly_map, ops.constant(np.array([1, 2, 3], dtype=np.int64)), keep_dims=False)
    anomaly_map.output(0).get_tensor().set_names({"anomaly_map"})
    pred_score.output(0).get_tensor().set_names({"pred_score"})
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Model([pred_score, anomaly_map], [image], "mean"), folder / "exported.xml")
    return folder / "exported.xml"


def _grey_png(level: int, width: int = 20, height: int = 10) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (level, level, level)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    registry = tmp_path / "models"
    return Settings(data_root=tmp_path / "data", registry_dir=registry, weights_dir=registry / "weights")


@pytest.fixture
def ir_run(tmp_path: Path, settings: Settings) -> Run:
    request = ImportRequest(file=_mean_ir(tmp_path / "export"), category="pcb_connector", model="patchcore")
    return import_run(request, settings, progress=lambda _: None, user=local_user())


def test_an_imported_ir_becomes_a_listed_run_with_its_provenance(ir_run: Run, settings: Settings) -> None:
    assert ir_run.path.relative_to(settings.registry_dir).parts[:3] == ("imported", "patchcore", "pcb_connector")
    assert ir_run.record.run == f"imported-{ir_run.record.source['sha256'][:12]}"
    assert ir_run.record.source["format"] == "openvino" and ir_run.record.source["file"] == "exported.xml"
    assert {p.name for p in ir_run.path.iterdir()} == {"model.xml", "model.bin", "metrics.json", "manifest.json"}
    assert ir_run.record.metrics == {}, "no --data: nothing was scored"
    assert [run.path for run in list_runs(settings)] == [ir_run.path]
    assert not any((settings.registry_dir / STAGING).iterdir()), "the staging folder is left empty"


def test_the_detector_serves_an_ir_only_run_on_openvino(ir_run: Run, settings: Settings) -> None:
    detector = Detector(ir_run, settings, device="cpu", backend="auto")
    assert (detector.choice.backend, detector.choice.precision) == ("openvino", "f32")
    dark, bright = detector.predict_batch([_grey_png(51), _grey_png(204)], ["dark.png", "bright.png"])
    assert dark.score == pytest.approx(51 / 255, abs=1e-5) and not dark.is_anomalous
    assert bright.score == pytest.approx(204 / 255, abs=1e-5) and bright.is_anomalous
    assert dark.anomaly_map.shape == (10, 20)
    np.testing.assert_allclose(dark.anomaly_map, 51 / 255, atol=1e-5)


def test_the_torch_backend_is_refused_for_an_ir_only_run_with_the_reason(ir_run: Run, settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"holds only an imported OpenVINO IR \(model\.xml\), no torch checkpoint"):
        Detector(ir_run, settings, device="cpu", backend="torch")


def test_an_ir_needs_its_model_named_and_is_imported_once(tmp_path: Path, ir_run: Run, settings: Settings) -> None:
    xml = tmp_path / "export" / "exported.xml"
    with pytest.raises(ModelImportError, match=r"OpenVINO IR exported\.xml does not say which model.*--model"):
        import_run(
            ImportRequest(file=xml, category="pcb_connector"), settings, progress=lambda _: None, user=local_user()
        )
    again = ImportRequest(file=xml, category="pcb_connector", model="patchcore")
    with pytest.raises(ModelImportError, match=r"exported\.xml is already imported as"):
        import_run(again, settings, progress=lambda _: None, user=local_user())


def test_an_ir_that_openvino_cannot_read_names_the_file(tmp_path: Path, settings: Settings) -> None:
    xml = tmp_path / "broken.xml"
    xml.write_text("<net><layers>")
    (tmp_path / "broken.bin").write_bytes(b"")
    request = ImportRequest(file=xml, category="pcb_connector", model="patchcore")
    with pytest.raises(ModelImportError, match=r"OpenVINO IR broken\.xml cannot be compiled"):
        import_run(request, settings, progress=lambda _: None, user=local_user())
    assert list_runs(settings) == []


def test_an_unsafe_category_is_refused_before_the_file_is_read(tmp_path: Path, settings: Settings) -> None:
    request = ImportRequest(file=tmp_path / "absent.ckpt", category="../tile")
    with pytest.raises(DatasetError, match=r"unsafe category name '\.\./tile': a category name is 1 to 64 letters"):
        import_run(request, settings, progress=lambda _: None, user=local_user())


def test_the_command_refuses_in_one_line_naming_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(tmp_path / "models"))
    get_settings.cache_clear()
    try:
        assert main(["import-run", str(tmp_path / "model.ckpt"), "--category", "pcb/connector"]) == 2
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().err == (f"error: unsafe category name 'pcb/connector': {CATEGORY_RULE}\n")
