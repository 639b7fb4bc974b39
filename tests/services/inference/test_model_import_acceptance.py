"""Acceptance of ``import-run``: anomalib's stock PatchCore fitted here with ``Engine.fit``, then imported as its
Lightning checkpoint, its OpenVINO export and its torch export, scores the test images as ``Engine.predict`` does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from anomalib.data import Folder
from anomalib.deploy import ExportType
from anomalib.engine import Engine
from anomalib.models import Patchcore

from services.access import local_user
from services.cli.commands import main
from services.inference.detector import Detector
from services.inference.model_import import ImportRequest, import_run
from services.modeling.backbones import DEFAULT_LAYERS, load_pretrained_weights
from services.registry.artefacts import read_scores
from services.registry.runs import Run, list_runs
from services.settings import Settings, get_settings

pytestmark = pytest.mark.slow

BACKBONE = "tf_efficientnet_lite0"
SIDE = 64


@dataclass(frozen=True)
class StockFit:
    """A stock anomalib PatchCore fitted by ``Engine.fit``, its files, and ``Engine.predict``'s scores by image."""

    checkpoint: Path
    openvino: Path
    torch_export: Path
    predicted: dict[Path, float]
    dataset_root: Path


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    registry = tmp_path_factory.mktemp("import_registry")
    return Settings(data_root=registry / "data", registry_dir=registry, weights_dir=registry / "weights")


@pytest.fixture(scope="module")
def stock_fit(tiny_synthetic_root: Path, settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> StockFit:
    work = tmp_path_factory.mktemp("elsewhere")
    tile = tiny_synthetic_root / "tile"
    defects = sorted(folder.name for folder in (tile / "test").iterdir() if folder.name != "good")
    datamodule = Folder(
        name="tile",
        root=tile,
        normal_dir="train/good",
        abnormal_dir=[f"test/{defect}" for defect in defects],
        normal_test_dir="test/good",
        train_batch_size=8,
        eval_batch_size=8,
        num_workers=0,
        seed=0,
    )
    model = Patchcore(
        backbone=BACKBONE,
        layers=DEFAULT_LAYERS[BACKBONE],
        pre_trained=False,
        coreset_sampling_ratio=0.2,
        pre_processor=Patchcore.configure_pre_processor(image_size=(SIDE, SIDE)),
        visualizer=False,
    )
    load_pretrained_weights(model.model.feature_extractor.feature_extractor, BACKBONE, settings)
    engine = Engine(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(work / "fit"),
    )
    engine.fit(model=model, datamodule=datamodule)
    batches = engine.predict(model=model, dataloaders=datamodule.test_dataloader())
    predicted = {
        Path(path).resolve(): float(score)
        for batch in batches
        for path, score in zip(batch.image_path, batch.pred_score.reshape(-1), strict=True)
    }
    exports = {
        kind: engine.export(
            model=model,
            export_type=kind,
            export_root=work / kind.value,
            input_size=(SIDE, SIDE),
            onnx_kwargs={"opset_version": 18},
        )
        for kind in (ExportType.OPENVINO, ExportType.TORCH)
    }
    return StockFit(
        checkpoint=Path(engine.best_model_path),
        openvino=Path(exports[ExportType.OPENVINO]),
        torch_export=Path(exports[ExportType.TORCH]),
        predicted=predicted,
        dataset_root=tiny_synthetic_root,
    )


def _imported(stock_fit: StockFit, settings: Settings, file: Path, **options: object) -> Run:
    request = ImportRequest(file=file, category="tile", data=stock_fit.dataset_root, **options)
    return import_run(request, settings, progress=lambda _: None, user=local_user())


def _differences(run: Run, stock_fit: StockFit) -> list[float]:
    """|imported score − Engine.predict score| for every test image both scored."""
    scored = {(stock_fit.dataset_root / row.image_path).resolve(): row.score for row in read_scores(run)}
    shared = scored.keys() & stock_fit.predicted.keys()
    assert len(shared) == len(stock_fit.predicted) > 4
    assert len({round(score, 3) for score in stock_fit.predicted.values()}) > 2, "scores spread, not clamped"
    return [abs(scored[path] - stock_fit.predicted[path]) for path in shared]


def test_an_engine_fit_checkpoint_scores_as_engine_predict(stock_fit: StockFit, settings: Settings) -> None:
    run = _imported(stock_fit, settings, stock_fit.checkpoint)
    assert run.record.source["format"] == "ckpt" and run.record.model == "patchcore"
    assert run.record.dataset == "synthetic" and 0.0 <= run.record.metrics["image_auroc"] <= 1.0
    assert {"predictions.csv", "maps.npz", "curves.json", "model.ckpt"} <= {p.name for p in run.path.iterdir()}
    assert max(_differences(run, stock_fit)) < 1e-4
    path = next(iter(stock_fit.predicted))
    served = Detector(run, settings, device="cpu", backend="torch").predict(path)
    assert served.score == pytest.approx(stock_fit.predicted[path], abs=1e-4)


def test_its_openvino_export_scores_as_engine_predict(stock_fit: StockFit, settings: Settings) -> None:
    run = _imported(stock_fit, settings, stock_fit.openvino, model="patchcore")
    assert run.record.source["format"] == "openvino" and not run.checkpoint.exists()
    assert max(_differences(run, stock_fit)) < 1e-2
    path = next(iter(stock_fit.predicted))
    served = Detector(run, settings, device="cpu", backend="openvino").predict(path)
    assert served.score == pytest.approx(stock_fit.predicted[path], abs=1e-2)


def test_its_torch_export_is_refused_without_trust_and_accepted_with_it(
    stock_fit: StockFit, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(settings.registry_dir))
    get_settings.cache_clear()
    command = ["import-run", str(stock_fit.torch_export), "--category", "tile", "--data", str(stock_fit.dataset_root)]
    try:
        assert main(command) == 2
        refusal = capsys.readouterr().err
        assert main([*command, "--trust", "--device", "cpu"]) == 0
    finally:
        get_settings.cache_clear()
    assert f"{stock_fit.torch_export.name} refused" in refusal and "pickle" in refusal and "--trust" in refusal
    assert "patchcore/tile run imported-" in capsys.readouterr().out
    run = next(r for r in list_runs(settings) if r.record.source.get("format") == "torch")
    assert run.record.source["trusted_pickle"] is True
    assert max(_differences(run, stock_fit)) < 1e-4
