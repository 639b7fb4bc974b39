"""A new user's own product through the command line: ``datasets check``, then ``train`` on a folder of non-square,
mixed-size JPEGs with two defect types named by the user and some defects without masks; a good-only folder too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.cli import train as train_command
from services.cli.commands import main
from services.inference.detector import Detector
from services.modeling.factory import profile_config
from services.registry.artefacts import read_scores
from services.registry.runs import latest_runs
from services.settings import Settings, get_settings

pytestmark = pytest.mark.slow

SIZES = ((96, 64), (64, 80), (112, 72))  # width, height


def _picture(seed: int, defect: bool = False) -> np.ndarray:
    coarse = np.random.default_rng(seed).integers(60, 200, (8, 8, 3), dtype=np.uint8)
    rgb = np.asarray(Image.fromarray(coarse).resize(SIZES[seed % 3], Image.Resampling.BILINEAR)).copy()
    if defect:
        rgb[20:36, 24:40] = 250
    return rgb


def _save(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=95)


def _product(root: Path, defects: bool) -> Path:
    """12 normals in ``good/``; with ``defects``, ``solder_bridge`` (masked) and ``missing_pin`` (no masks)."""
    for seed in range(12):
        _save(_picture(seed), root / "good" / f"n{seed:02d}.jpg")
    if defects:
        for seed, defect in ((20, "solder_bridge"), (21, "solder_bridge"), (22, "missing_pin"), (23, "missing_pin")):
            rgb = _picture(seed, defect=True)
            _save(rgb, root / defect / f"d{seed}.jpg")
            if defect == "solder_bridge":
                mask = np.zeros(rgb.shape[:2], np.uint8)
                mask[20:36, 24:40] = 255
                (root / "masks").mkdir(exist_ok=True)
                Image.fromarray(mask).save(root / "masks" / f"d{seed}.png")
    return root


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(tmp_path / "models"))
    monkeypatch.setenv("ANOMALYLENS_DATA_ROOT", str(tmp_path / "data"))
    get_settings.cache_clear()
    tiny = replace(profile_config("demo", "patchcore", seed=0), image_size=64, coreset_ratio=0.2)
    monkeypatch.setattr(train_command, "profile_config", lambda profile, model, seed: tiny)
    yield get_settings()
    get_settings.cache_clear()


def test_check_then_train_an_own_product(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _product(tmp_path / "pcb", defects=True)
    assert main(["datasets", "check", str(data), "--category", "pcb_connector"]) == 0
    report = capsys.readouterr().out
    assert "solder_bridge" in report and "missing_pin" in report
    assert main(["train", "--data", str(data), "--category", "pcb_connector", "--models", "patchcore"]) == 0
    runs = latest_runs(settings, "own")
    run = runs[("own", "patchcore", "pcb_connector")]
    assert {image.defect_type for image in read_scores(run)} == {"good", "solder_bridge", "missing_pin"}
    assert run.record.protocol["layout"] == "folder"
    upload = (data / "missing_pin" / "d22.jpg").read_bytes()
    prediction = Detector(run, settings, device="cpu", backend="torch").predict(upload)
    assert prediction.anomaly_map.shape == (80, 64)  # the upload's own size (64×80 px), not the model's 64×64


def test_a_good_only_product_trains_and_a_taken_name_is_refused(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    board = _product(tmp_path / "board", defects=False)
    assert main(["train", "--data", str(board), "--category", "bare_board", "--models", "patchcore"]) == 0
    run = latest_runs(settings, "own")[("own", "patchcore", "bare_board")]
    assert "image_auroc" in run.record.unavailable
    other = _product(tmp_path / "other", defects=True)
    assert main(["train", "--data", str(other), "--category", "bare_board", "--models", "patchcore"]) == 2
    assert "category 'bare_board' already holds runs trained on other images" in capsys.readouterr().err


def test_an_unsafe_name_is_refused_before_anything_is_read(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--data", str(tmp_path), "--category", "../x"])
    assert "unsafe category name '../x'" in capsys.readouterr().err
