"""Tests for services.modeling.patchcore.coreset: fast k-center greedy and the Patchcore that uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from anomalib.models import Patchcore
from anomalib.models.components import KCenterGreedy
from PIL import Image

from services.modeling.patchcore.coreset import CoresetError, FastCoresetPatchcore, k_center_greedy, projection_size
from services.modeling.patchcore.maps import ANOMALIB_MAP_SIGMA


def _random(n: int = 1200, d: int = 48, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _clustered(n_clusters: int = 12, per_cluster: int = 100, d: int = 32, seed: int = 0) -> torch.Tensor:
    """Tight, well separated Gaussian blobs; rows are grouped by cluster."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(n_clusters, d, generator=generator) * 20
    points = centres.repeat_interleave(per_cluster, dim=0)
    return points + 0.5 * torch.randn(points.shape, generator=generator)


def _covering_radius(points: torch.Tensor, indices: torch.Tensor | list[int]) -> float:
    """Largest distance from any point to its nearest selected point."""
    return float(torch.cdist(points.double(), points[indices].double()).min(dim=1).values.max())


def _reference_greedy(points: torch.Tensor, count: int, start: int) -> list[int]:
    """Textbook farthest-point selection in float64 with explicit differences."""
    points = points.double()
    selected = [start]
    nearest = torch.full((len(points),), float("inf"), dtype=torch.float64)
    for _ in range(count - 1):
        nearest = torch.minimum(nearest, torch.linalg.norm(points - points[selected[-1]], dim=1))
        nearest[selected] = -1.0
        selected.append(int(nearest.argmax()))
    return selected


def _anomalib_indices(points: torch.Tensor, ratio: float, seed: int) -> list[int]:
    torch.manual_seed(seed)
    np.random.seed(seed)
    return KCenterGreedy(embedding=points, sampling_ratio=ratio).select_coreset_idxs()


@pytest.mark.parametrize("data", [_random(), _clustered()], ids=["random", "clustered"])
@pytest.mark.parametrize("ratio", [0.01, 0.1, 0.5])
def test_returns_requested_count_of_unique_indices(data: torch.Tensor, ratio: float) -> None:
    indices = k_center_greedy(data, ratio)
    assert indices.dtype == torch.int64
    assert len(indices) == int(len(data) * ratio)
    assert len(set(indices.tolist())) == len(indices)
    assert int(indices.min()) >= 0 and int(indices.max()) < len(data)


def test_full_ratio_selects_every_row_once() -> None:
    data = _random(n=200)
    assert sorted(k_center_greedy(data, 1.0).tolist()) == list(range(200))


def test_duplicate_rows_are_never_selected_twice() -> None:
    indices = k_center_greedy(torch.ones(50, 4), 0.5)
    assert len(indices) == 25
    assert len(set(indices.tolist())) == 25


@pytest.mark.parametrize("projection_dim", ["auto", None, 8])
def test_same_seed_same_selection_other_seed_other_selection(projection_dim: int | str | None) -> None:
    data = _random(d=64)
    first = k_center_greedy(data, 0.05, seed=3, projection_dim=projection_dim)
    assert torch.equal(first, k_center_greedy(data, 0.05, seed=3, projection_dim=projection_dim))
    assert not torch.equal(first, k_center_greedy(data, 0.05, seed=4, projection_dim=projection_dim))


def test_global_torch_seed_does_not_change_selection() -> None:
    data = _random(d=64)
    torch.manual_seed(1)
    first = k_center_greedy(data, 0.05, seed=7, projection_dim=8)
    torch.manual_seed(2)
    assert torch.equal(first, k_center_greedy(data, 0.05, seed=7, projection_dim=8))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("data", [_random(n=400, d=16), _clustered(per_cluster=30, d=8)], ids=["random", "clustered"])
def test_matches_reference_greedy_without_projection(data: torch.Tensor, seed: int) -> None:
    indices = k_center_greedy(data, 0.2, seed=seed, projection_dim=None).tolist()
    assert indices == _reference_greedy(data, len(indices), start=indices[0])


@pytest.mark.parametrize("data", [_random(n=2000, d=12), _clustered(d=256)], ids=["random", "clustered"])
@pytest.mark.parametrize("ratio", [0.02, 0.1])
def test_covering_radius_close_to_anomalib(data: torch.Tensor, ratio: float) -> None:
    ours = [_covering_radius(data, k_center_greedy(data, ratio, seed=seed)) for seed in range(3)]
    theirs = [_covering_radius(data, _anomalib_indices(data, ratio, seed)) for seed in range(3)]
    assert max(ours) <= 1.15 * max(theirs)
    assert min(ours) >= min(theirs) / 1.15


def test_covering_radius_well_below_random_subset() -> None:
    data = _random(n=2000, d=2)
    random_subset = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:100]
    assert _covering_radius(data, k_center_greedy(data, 0.05)) < 0.6 * _covering_radius(data, random_subset)


def test_projected_selection_covers_like_exact_selection() -> None:
    data = _clustered(d=256)
    exact = _covering_radius(data, k_center_greedy(data, 0.05, projection_dim=None))
    projected = _covering_radius(data, k_center_greedy(data, 0.05, projection_dim=64))
    assert projected <= 1.3 * exact


def test_clustered_data_gets_a_centre_in_every_cluster_first() -> None:
    n_clusters, per_cluster = 12, 100
    data = _clustered(n_clusters=n_clusters, per_cluster=per_cluster)
    indices = k_center_greedy(data, 0.05)
    assert {int(i) // per_cluster for i in indices[:n_clusters]} == set(range(n_clusters))


def test_thread_count_does_not_change_selection_and_is_restored() -> None:
    data = _random(n=500, d=32)
    before = torch.get_num_threads()
    single = k_center_greedy(data, 0.1, num_threads=1)
    assert torch.get_num_threads() == before
    assert torch.equal(single, k_center_greedy(data, 0.1, num_threads=None))
    assert torch.equal(single, k_center_greedy(data, 0.1, num_threads=2))
    assert torch.get_num_threads() == before


def test_explicit_device_gives_the_same_selection() -> None:
    data = _random(n=500, d=32)
    assert torch.equal(k_center_greedy(data, 0.1, device="cpu"), k_center_greedy(data, 0.1))


def test_projection_size_matches_anomalib_and_is_capped() -> None:
    assert projection_size(40960, 1536) == 262
    assert projection_size(40960, 152) == 152
    # Two points: int(4 ln 2 / (0.9²/2 - 0.9³/3)) = int(2.773 / 0.162) = 17. One point: ln 1 = 0, floored at 1.
    assert projection_size(2, 100) == 17
    assert projection_size(2, 10) == 10
    assert projection_size(1, 10) == 1


def test_half_precision_input_is_accepted() -> None:
    data = _random(n=300, d=16)
    assert torch.equal(
        k_center_greedy(data.half(), 0.1, projection_dim=None),
        k_center_greedy(data.half().float(), 0.1, projection_dim=None),
    )


@pytest.mark.parametrize(
    ("embedding", "ratio", "kwargs", "message"),
    [
        (torch.zeros(10), 0.5, {}, "2-D tensor"),
        (torch.zeros(2, 3, 4), 0.5, {}, "2-D tensor"),
        ([[0.0, 1.0]], 0.5, {}, "2-D tensor"),
        (torch.zeros(10, 3, dtype=torch.int64), 0.5, {}, "floating-point"),
        (torch.zeros(0, 3), 0.5, {}, "at least one sample"),
        (torch.tensor([[0.0, float("nan")]] * 4), 0.5, {}, "NaN"),
        (torch.zeros(10, 3), 0.0, {}, r"\(0, 1\]"),
        (torch.zeros(10, 3), 1.5, {}, r"\(0, 1\]"),
        (torch.zeros(10, 3), True, {}, r"\(0, 1\]"),
        (torch.zeros(10, 3), 0.05, {}, "selects no point"),
        (torch.zeros(10, 3), 0.5, {"seed": 1.5}, "seed"),
        (torch.zeros(10, 3), 0.5, {"projection_dim": 0}, "projection_dim"),
        (torch.zeros(10, 3), 0.5, {"projection_dim": "half"}, "projection_dim"),
        (torch.zeros(10, 3), 0.5, {"num_threads": 0}, "num_threads"),
        (torch.zeros(10, 3), 0.5, {"num_threads": True}, "num_threads"),
    ],
)
def test_bad_input_raises_coreset_error(embedding: object, ratio: float, kwargs: dict, message: str) -> None:
    with pytest.raises(CoresetError, match=message):
        k_center_greedy(embedding, ratio, **kwargs)  # type: ignore[arg-type]


def _tiny_patchcore(cls: type[Patchcore], ratio: float, **extra: float) -> Patchcore:
    return cls(
        **extra,
        backbone="resnet18",
        layers=("layer2",),
        pre_trained=False,
        coreset_sampling_ratio=ratio,
        evaluator=False,
        visualizer=False,
        pre_processor=cls.configure_pre_processor(image_size=(64, 64)),
    )


def test_fast_patchcore_fit_fills_memory_bank_reproducibly() -> None:
    features = [_random(n=300, d=128, seed=s) for s in range(2)]
    banks = []
    for _ in range(2):
        model = _tiny_patchcore(FastCoresetPatchcore, ratio=0.1)
        model.model.embedding_store.extend(features)
        torch.manual_seed(5)
        model.fit()
        assert model.model.embedding_store == []
        banks.append(model.model.memory_bank)
    assert banks[0].shape == (60, 128)
    assert torch.equal(banks[0], banks[1])
    rows = {tuple(row.tolist()) for row in torch.vstack(features)}
    assert all(tuple(row.tolist()) in rows for row in banks[0])


def test_fast_patchcore_has_patchcore_state_dict_and_hyperparameters() -> None:
    fast, stock = _tiny_patchcore(FastCoresetPatchcore, 0.1), _tiny_patchcore(Patchcore, 0.1)
    assert isinstance(fast, Patchcore)
    assert fast.state_dict().keys() == stock.state_dict().keys()
    assert dict(fast.hparams) == {**stock.hparams, "map_sigma": ANOMALIB_MAP_SIGMA}
    stock.load_state_dict(fast.state_dict(), strict=True)  # at anomalib's sigma the blur kernel is anomalib's


def test_map_sigma_sets_the_smoothing() -> None:
    wide = _tiny_patchcore(FastCoresetPatchcore, 0.1, map_sigma=8.0)
    stock_kernel = _tiny_patchcore(Patchcore, 0.1).model.anomaly_map_generator.blur.kernel
    assert wide.model.anomaly_map_generator.blur.kernel.shape[-1] > stock_kernel.shape[-1]
    scores = torch.zeros(1, 1, 8, 8)
    scores[..., 4, 4] = 1.0
    narrow = _tiny_patchcore(FastCoresetPatchcore, 0.1).model.anomaly_map_generator(scores, (64, 64))
    spread = wide.model.anomaly_map_generator(scores, (64, 64))
    assert spread.max() < narrow.max()  # the same peak, smoothed twice as wide


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_map_sigma_must_be_positive(sigma: float) -> None:
    with pytest.raises(ValueError, match="map sigma must be a positive number"):
        _tiny_patchcore(FastCoresetPatchcore, 0.1, map_sigma=sigma)


def test_fast_patchcore_fit_without_embeddings_raises() -> None:
    with pytest.raises(CoresetError, match="embedding store is empty"):
        _tiny_patchcore(FastCoresetPatchcore, 0.1).fit()


def _write_images(folder: Path, count: int, seed: int, defect: bool) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = (rng.normal(128, 12, size=(64, 64, 3))).clip(0, 255).astype(np.uint8)
        if defect:
            pixels[20:36, 24:40] = 255
        Image.fromarray(pixels).save(folder / f"{index:03d}.png")


@pytest.mark.slow
def test_fast_patchcore_trains_and_its_checkpoint_reloads(tmp_path: Path) -> None:
    from anomalib.data import Folder
    from anomalib.engine import Engine

    _write_images(tmp_path / "data" / "good", 10, seed=0, defect=False)
    _write_images(tmp_path / "data" / "bad", 4, seed=1, defect=True)
    datamodule = Folder(
        name="tiny",
        root=tmp_path / "data",
        normal_dir="good",
        abnormal_dir="bad",
        train_batch_size=4,
        eval_batch_size=4,
        num_workers=0,
        seed=0,
    )
    model = _tiny_patchcore(FastCoresetPatchcore, ratio=0.1, map_sigma=6.0)
    engine = Engine(default_root_dir=tmp_path / "results", accelerator="cpu", devices=1, enable_progress_bar=False)
    torch.manual_seed(0)
    engine.fit(model=model, datamodule=datamodule)

    patches_per_image = 8 * 8
    expected = int(len(datamodule.train_data) * patches_per_image * 0.1)
    assert model.model.memory_bank.shape == (expected, 128)

    reloaded = FastCoresetPatchcore.load_from_checkpoint(engine.best_model_path)
    assert reloaded.hparams["map_sigma"] == 6.0
    assert torch.equal(reloaded.model.memory_bank, model.model.memory_bank)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        expected_output, output = model(image), reloaded(image)
    assert torch.allclose(output.pred_score, expected_output.pred_score)
    assert torch.allclose(output.anomaly_map, expected_output.anomaly_map)

    # A checkpoint from before map_sigma existed reloads with anomalib's smoothing, as stock Patchcore and as ours.
    checkpoint = torch.load(engine.best_model_path, weights_only=False)
    checkpoint["hyper_parameters"].pop("map_sigma")
    stock_kernel = _tiny_patchcore(Patchcore, 0.1).model.anomaly_map_generator.blur.kernel
    checkpoint["state_dict"]["model.anomaly_map_generator.blur.kernel"] = stock_kernel
    earlier = tmp_path / "earlier.ckpt"
    torch.save(checkpoint, earlier)
    for cls in (Patchcore, FastCoresetPatchcore):
        loaded = cls.load_from_checkpoint(earlier)
        assert torch.equal(loaded.model.memory_bank, model.model.memory_bank)
        assert torch.equal(loaded.model.anomaly_map_generator.blur.kernel, stock_kernel)
