"""A stock anomalib EfficientAd checkpoint imported without training: its hyper-parameters (ImageNet folder, enum
model size) differ from the project's class, which reloads it offline and scores as the stock module's forward."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from anomalib.models import EfficientAd
from anomalib.models.components.base import AnomalibModule
from PIL import Image

from services.access import local_user
from services.inference.detector import Detector
from services.inference.model_import import ImportRequest, import_run
from services.registry.imports import ModelImportError
from services.settings import Settings

SIDE = 256


def _stock_checkpoint(module: AnomalibModule, path: Path) -> Path:
    """What Lightning writes for ``module``: its state dict, hyper-parameters and anomalib's component records."""
    checkpoint = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": "2.5.0",
    }
    module.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


def _fitted_post_processor(module: AnomalibModule, threshold: float, low: float, high: float) -> None:
    post = module.post_processor
    for prefix in ("image", "pixel"):
        getattr(post, f"_{prefix}_threshold").fill_(threshold)
        getattr(post, f"{prefix}_min").fill_(low)
        getattr(post, f"{prefix}_max").fill_(high)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models")


def test_a_stock_efficientad_checkpoint_scores_as_its_own_forward(tmp_path: Path, settings: Settings) -> None:
    torch.manual_seed(0)
    stock = EfficientAd(
        model_size="small",
        pre_processor=EfficientAd.configure_pre_processor(image_size=(SIDE, SIDE)),
        evaluator=False,
        visualizer=False,
    ).eval()
    _fitted_post_processor(stock, threshold=0.2, low=0.0, high=0.6)
    path = _stock_checkpoint(stock, tmp_path / "efficientad.ckpt")
    run = import_run(
        ImportRequest(file=path, category="pcb_connector"), settings, progress=lambda _: None, user=local_user()
    )
    assert (run.record.model, run.record.source["format"]) == ("efficientad", "ckpt")
    assert "imagenet_dir" not in run.record.config and run.record.config["model_size"] == "small"

    rgb = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    with torch.inference_mode():
        expected = stock(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255).pred_score
    served = Detector(run, settings, device="cpu", backend="torch").predict(png.getvalue(), name="part.png")
    assert np.isfinite(served.score)
    assert served.score == pytest.approx(float(expected), abs=1e-5)


def test_a_checkpoint_without_fitted_thresholds_is_refused_and_leaves_nothing(
    tmp_path: Path, settings: Settings
) -> None:
    stock = EfficientAd(model_size="small", evaluator=False, visualizer=False)
    path = _stock_checkpoint(stock, tmp_path / "unvalidated.ckpt")
    with pytest.raises(ModelImportError, match=r"checkpoint unvalidated\.ckpt has no fitted thresholds"):
        import_run(
            ImportRequest(file=path, category="pcb_connector"), settings, progress=lambda _: None, user=local_user()
        )
    assert not any(settings.registry_dir.rglob("metrics.json"))
