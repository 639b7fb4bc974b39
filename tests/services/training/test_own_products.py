"""A product of the user's own, trained through ``train_and_evaluate`` from hand-made splits: mixed, non-square image
sizes with some defects unmasked, and a good-only product whose test split holds no defect."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qdrant_client import QdrantClient

from services.data.datasets import DatasetInfo, Sample
from services.data.protocol import EvaluationProtocol
from services.data.pseudo_anomalies import numbered_anomaly
from services.inference.detector import Detector
from services.modeling.factory import profile_config
from services.modeling.model_config import concrete
from services.registry import runs as registry
from services.registry.artefacts import no_known_defects_reason, read_curves, scored_samples
from services.registry.normal_scores import LEAVE_GROUP_OUT, VALIDATION, VALIDATION_OUT_OF_GROUP
from services.registry.report import results_rows, to_markdown
from services.settings import Settings
from services.similarity.crop_embedder import Embedder
from services.similarity.index import index_run
from services.similarity.store import SearchFilters, SimilarityStore
from services.training.engine import RunRequest, train_and_evaluate
from services.training.evaluation import IMAGE_METRICS, NO_DEFECTS, PIXEL_METRICS

pytestmark = pytest.mark.slow

SIZES = ((96, 64), (64, 80), (80, 80), (112, 72))  # width, height: non-square, mixed within every split
AGREEMENT = 1e-5


@dataclass(frozen=True)
class OwnRuns:
    """The two runs and where they live."""

    settings: Settings
    mixed: registry.Run
    good_only: registry.Run
    root: Path


def _picture(seed: int, size: tuple[int, int]) -> np.ndarray:
    """A smooth random texture of ``size`` (width, height)."""
    coarse = np.random.default_rng(seed).integers(60, 200, (8, 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BILINEAR))


def _write(rgb: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))
    return path


def _normals(folder: Path, seeds: range) -> list[Sample]:
    return [
        Sample(_write(_picture(seed, SIZES[seed % len(SIZES)]), folder / f"{seed:03d}.jpg"), "train", "good", None)
        for seed in seeds
    ]


def _defect(root: Path, defect: str, seed: int, *, with_mask: bool) -> Sample:
    """A test picture with a bright square; its mask beside it when ``with_mask``."""
    rgb = _picture(seed, SIZES[seed % len(SIZES)]).copy()
    mask = np.zeros(rgb.shape[:2], np.uint8)
    rgb[20:36, 24:40], mask[20:36, 24:40] = 250, 255
    image = _write(rgb, root / "test" / defect / f"{seed:03d}.jpg")
    mask_path = _write(mask, root / "masks" / f"{seed:03d}.png") if with_mask else None
    return Sample(image, "test", defect, mask_path)


def _validation(root: Path, held_out: list[Sample]) -> list[Sample]:
    """The held-out normals and a pseudo-anomalous copy of each, as the protocol makes them."""
    pseudo = []
    for index, normal in enumerate(held_out):
        anomalous, mask = numbered_anomaly(np.asarray(Image.open(normal.path).convert("RGB")), 0, index)
        image = _write(anomalous, root / "validation" / f"{index:03d}.png")
        mask_path = _write(mask.astype(np.uint8) * 255, root / "validation" / f"{index:03d}_mask.png")
        pseudo.append(Sample(image, "test", "pseudo", mask_path))
    return [*held_out, *pseudo]


def _protocol(root: Path, category: str, test: list[Sample], train: list[Sample]) -> EvaluationProtocol:
    dataset = DatasetInfo(name="own", root=root, categories=(category,), fingerprint="test", version="1")
    return EvaluationProtocol(
        dataset=dataset,
        category=category,
        train=tuple(train[2:]),
        validation=tuple(_validation(root / category, train[:2])),
        test=tuple(test),
        holdout_fraction=0.2,
        seed=0,
    )


def _train(protocol: EvaluationProtocol, settings: Settings) -> registry.Run:
    config = concrete(replace(profile_config("demo", "patchcore", seed=0), image_size=64, coreset_ratio=0.2), settings)
    request = RunRequest(protocol.dataset, protocol.category, config, profile="demo", device="cpu")
    return train_and_evaluate(request, settings, protocol, progress=lambda _: None)


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> OwnRuns:
    """``pcb_connector``: mixed sizes, two user-named defect types, ``missing_pin`` without masks; ``bare_board``: the
    same kind of normals and a test split of normal images only."""
    base = tmp_path_factory.mktemp("own")
    root = base / "dataset"
    settings = Settings(data_root=base / "data", registry_dir=base / "models", weights_dir=base / "models" / "weights")
    pcb = root / "pcb_connector"
    test = [
        *(replace(sample, split="test") for sample in _normals(pcb / "test" / "good", range(100, 103))),
        *(_defect(pcb, "solder_bridge", seed, with_mask=True) for seed in (200, 201)),
        *(_defect(pcb, "missing_pin", seed, with_mask=False) for seed in (202, 203)),
    ]
    mixed = _train(_protocol(root, "pcb_connector", test, _normals(pcb / "train", range(10))), settings)
    board = root / "bare_board"
    good_test = [replace(sample, split="test") for sample in _normals(board / "test", range(300, 303))]
    good_only = _train(_protocol(root, "bare_board", good_test, _normals(board / "train", range(10))), settings)
    return OwnRuns(settings=settings, mixed=mixed, good_only=good_only, root=root)


def _predictions(run: registry.Run) -> list[dict[str, str]]:
    with (run.path / registry.PREDICTIONS).open() as handle:
        return list(csv.DictReader(handle))


def test_mixed_sizes_and_partial_masks_give_every_metric(own: OwnRuns) -> None:
    record = own.mixed.record
    assert record.category == "pcb_connector" and record.unavailable == {}
    assert all(0.0 <= record.metrics[key] <= 1.0 for key in IMAGE_METRICS + PIXEL_METRICS)
    rows = _predictions(own.mixed)
    masked = {(row["defect_type"], row["mask_path"] != "") for row in rows}
    assert masked == {("good", False), ("solder_bridge", True), ("missing_pin", False)}
    maps = np.load(own.mixed.path / registry.MAPS)
    assert maps["maps"].shape == (7, 64, 64)
    assert set(read_curves(own.mixed)) == {"roc", "pr"}
    samples = scored_samples(own.mixed, own.settings)
    assert [s.mask_path is not None for s in samples] == [row["mask_path"] != "" for row in rows]


def test_registry_and_detector_agree_on_a_non_square_image(own: OwnRuns) -> None:
    row = next(row for row in _predictions(own.mixed) if row["image_path"].endswith("missing_pin/203.jpg"))
    path = own.root / row["image_path"]
    prediction = Detector(own.mixed, own.settings, device="cpu", backend="torch").predict(path)
    assert abs(prediction.score - float(row["score"])) <= AGREEMENT
    assert Image.open(path).size == SIZES[203 % len(SIZES)] == (112, 72)
    assert prediction.anomaly_map.shape == (72, 112)


def test_good_only_product_trains_calibrates_and_reports_why_metrics_are_missing(own: OwnRuns) -> None:
    record = own.good_only.record
    assert record.unavailable == dict.fromkeys(IMAGE_METRICS + PIXEL_METRICS, NO_DEFECTS)
    assert all(np.isnan(record.metrics[key]) for key in IMAGE_METRICS + PIXEL_METRICS)
    assert all(np.isfinite(value) for value in record.thresholds.values())
    sources = record.protocol["calibration"]["sources"]
    assert sources[VALIDATION_OUT_OF_GROUP if LEAVE_GROUP_OUT in sources else VALIDATION] == 2
    assert json.loads((own.good_only.path / registry.CURVES).read_text()) == {}
    assert [row["defect_type"] for row in _predictions(own.good_only)] == ["good"] * 3
    assert registry.manifest_status(own.good_only.path) == "ok"
    assert no_known_defects_reason(own.good_only) == "its test split has no labelled defects"
    assert no_known_defects_reason(own.mixed) is None


def test_both_products_are_listed_and_reported(own: OwnRuns) -> None:
    runs = registry.list_runs(own.settings)
    assert sorted(run.record.category for run in runs) == ["bare_board", "pcb_connector"]
    markdown = to_markdown(results_rows(runs))
    assert "| patchcore | bare_board | n/a |" in markdown
    assert (
        "patchcore · bare_board: Image AUROC, Image F1, Pixel AUROC, Pixel F1, Image F1Max (oracle thr.), "
        f"Pixel F1Max (oracle thr.), Pixel AUPRO@0.3: {NO_DEFECTS}"
    ) in markdown


def test_only_masked_defects_enter_the_similar_defect_library(own: OwnRuns) -> None:
    store = SimilarityStore(QdrantClient(":memory:"), ":memory:")
    report = index_run(own.mixed, store, Embedder(own.settings))
    record = own.mixed.record
    filters = SearchFilters(dataset=record.dataset, model=record.model, category=record.category, run=record.run)
    regions = store.browse(replace(filters, kind="region"), limit=100)
    assert report.images == 4
    assert regions and {item.payload.defect_type for item in regions} == {"solder_bridge"}
    images = store.browse(replace(filters, kind="image"), limit=100)
    assert {item.payload.defect_type for item in images} == {"solder_bridge", "missing_pin"}
