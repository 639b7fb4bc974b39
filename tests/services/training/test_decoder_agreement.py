"""Training and the Detector decode a file alike: a transparent PNG, an EXIF-rotated JPEG and a 16-bit grayscale PNG
score the same in the registry's predictions.csv as in the Detector."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from services.data.datasets import open_dataset
from services.inference.detector import Detector
from services.modeling.factory import profile_config
from services.registry import runs as registry
from services.settings import Settings
from services.training.engine import run_benchmark
from tests.image_variants import HEIGHT, VARIANTS, WIDTH, picture, write_variant

pytestmark = pytest.mark.slow

TRAIN_PICTURES = 8
AGREEMENT = 1e-5


@dataclass(frozen=True)
class TrainedOnVariants:
    """A PatchCore run on a category whose train and test splits hold the three awkward variants."""

    settings: Settings
    run: registry.Run
    test_files: dict[str, Path]  # by variant


def _defective(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A copy with a white square, and its mask."""
    image, mask = rgb.copy(), np.zeros(rgb.shape[:2], dtype=np.uint8)
    image[16:32, 24:40], mask[16:32, 24:40] = 255, 255
    return image, mask


def _write_category(root: Path) -> dict[str, Path]:
    """tile/train/good: plain PNGs and the three variants; tile/test: the variants of an unseen picture, a plain
    normal and two defective PNGs with masks. Returns the variant test files."""
    base = root / "tile"
    (base / "train" / "good").mkdir(parents=True)
    for seed in range(TRAIN_PICTURES):
        Image.fromarray(picture(seed)).save(base / "train" / "good" / f"{seed:03d}.png")
    for variant in VARIANTS:
        write_variant(picture(TRAIN_PICTURES), variant, base / "train" / "good", f"variant_{variant}")
    unseen, good = picture(TRAIN_PICTURES + 1), base / "test" / "good"
    tests = {variant: write_variant(unseen, variant, good, f"variant_{variant}") for variant in VARIANTS}
    Image.fromarray(picture(TRAIN_PICTURES + 2)).save(base / "test" / "good" / "plain.png")
    for index in range(2):
        image, mask = _defective(picture(TRAIN_PICTURES + 3 + index))
        (base / "test" / "crack").mkdir(parents=True, exist_ok=True)
        (base / "ground_truth" / "crack").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(base / "test" / "crack" / f"{index:03d}.png")
        Image.fromarray(mask).save(base / "ground_truth" / "crack" / f"{index:03d}_mask.png")
    return tests


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedOnVariants:
    """PatchCore at 64 px trained through the registry path (``run_benchmark``), as the tiny registry is."""
    root = tmp_path_factory.mktemp("variants")
    test_files = _write_category(root / "dataset")
    settings = Settings(
        data_root=root / "data",
        registry_dir=root / "models",
        weights_dir=root / "models" / "weights",
        false_alarm_budget=0.4,  # a threshold among the normal scores, so the test normals' scores are not clamped
    )
    config = replace(profile_config("demo", "patchcore", seed=0), image_size=64, coreset_ratio=0.2)
    dataset = open_dataset(root / "dataset", ("tile",))
    (run,) = run_benchmark(
        dataset, {"patchcore": config}, ("tile",), settings, profile="demo", device="cpu", progress=lambda _: None
    )
    return TrainedOnVariants(settings=settings, run=run, test_files=test_files)


def _registry_scores(run: registry.Run) -> dict[str, float]:
    with (run.path / registry.PREDICTIONS).open() as handle:
        return {row["image_path"]: float(row["score"]) for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def detector(trained: TrainedOnVariants) -> Detector:
    return Detector(trained.run, trained.settings, device="cpu", backend="torch")


@pytest.mark.parametrize("variant", VARIANTS)
def test_registry_and_detector_scores_agree(trained: TrainedOnVariants, detector: Detector, variant: str) -> None:
    path = trained.test_files[variant]
    recorded = _registry_scores(trained.run)[str(path.relative_to(trained.run.record.dataset_root))]
    predicted = detector.predict(path)
    assert 0.0 < recorded < 1.0, "a clamped score would agree whatever the decoding"
    assert abs(predicted.score - recorded) <= AGREEMENT
    assert predicted.anomaly_map.shape == (HEIGHT, WIDTH)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_bare_decode_would_have_scored_otherwise(
    trained: TrainedOnVariants, detector: Detector, variant: str
) -> None:
    """The agreement above is not trivial: the old ``convert("RGB")`` reading of the same file scores differently."""
    path = trained.test_files[variant]
    recorded = _registry_scores(trained.run)[str(path.relative_to(trained.run.record.dataset_root))]
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format="PNG")
    assert abs(detector.predict(buffer.getvalue()).score - recorded) > 100 * AGREEMENT
