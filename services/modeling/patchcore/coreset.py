"""Fast k-center-greedy coreset selection for PatchCore, and a Patchcore that uses it (with the map smoothing of
:mod:`services.modeling.patchcore.maps`).

anomalib's ``KCenterGreedy`` allocates an N×D difference tensor at every greedy step; on CPU that makes
PatchCore fitting page-fault bound. :func:`k_center_greedy` runs the same
algorithm (sparse random projection, random start, farthest point first) with every buffer allocated once:
each step is one matrix-vector product against the new centre plus a few in-place vector operations, on one
CPU thread by default. ``benchmarks/bench_coreset.py`` times both side by side on the same PatchCore features
(docs/results.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from anomalib.models import Patchcore

from services.modeling.patchcore.left_out import BankGroups, LeftOutScores, leave_group_out, score_out_of_group
from services.modeling.patchcore.maps import ANOMALIB_MAP_SIGMA, ScaledMapGenerator

JL_EPS = 0.9
"""Random projection distortion; anomalib's ``KCenterGreedy`` uses ``SparseRandomProjection(eps=0.9)``."""

ProjectionDim = int | None | Literal["auto"]


class CoresetError(ValueError):
    """Coreset selection got an input it does not accept."""


def projection_size(n_samples: int, n_features: int) -> int:
    """anomalib's Johnson-Lindenstrauss size for ``n_samples`` points, capped at ``n_features``.

    anomalib projects to the uncapped size even when it exceeds the feature count, which only adds
    distortion and work; at or above the feature count the exact features are used instead.
    """
    jl_size = int(4 * math.log(n_samples) / (JL_EPS**2 / 2 - JL_EPS**3 / 3))
    return max(1, min(jl_size, n_features))


def sparse_random_projection(n_features: int, n_components: int, generator: torch.Generator) -> torch.Tensor:
    """A ``n_features × n_components`` very sparse random projection matrix (Li, Hastie and Church, 2006).

    Entries are ``±sqrt(1 / density) / sqrt(n_components)`` with probability ``density = 1 / sqrt(n_features)``
    each and zero otherwise: the distribution anomalib's ``SparseRandomProjection`` draws from.
    """
    density = 1 / math.sqrt(n_features)
    signs = torch.randint(0, 2, (n_features, n_components), generator=generator).mul_(2).sub_(1)
    kept = torch.rand(n_features, n_components, generator=generator) < density
    return (signs * kept).to(torch.float32) * (math.sqrt(1 / density) / math.sqrt(n_components))


@contextmanager
def _cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads (``None``: unchanged), restoring the previous count after."""
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _validate(
    embedding: torch.Tensor, sampling_ratio: float, seed: int, projection_dim: ProjectionDim, num_threads: int | None
) -> int:
    """Check the arguments of :func:`k_center_greedy`; returns the coreset size."""
    if not isinstance(embedding, torch.Tensor) or embedding.ndim != 2:
        shape = tuple(embedding.shape) if isinstance(embedding, torch.Tensor) else type(embedding).__name__
        raise CoresetError(f"embedding must be a 2-D tensor (samples × features), got {shape}")
    if not embedding.is_floating_point():
        raise CoresetError(f"embedding must have a floating-point dtype, got {embedding.dtype}")
    n_samples, n_features = embedding.shape
    if n_samples == 0 or n_features == 0:
        raise CoresetError(f"embedding must have at least one sample and one feature, got {tuple(embedding.shape)}")
    if not bool(torch.isfinite(embedding).all()):
        raise CoresetError("embedding contains NaN or infinite values")
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, int | float) or not 0 < sampling_ratio <= 1:
        raise CoresetError(f"sampling_ratio must be a number in (0, 1], got {sampling_ratio!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise CoresetError(f"seed must be an integer, got {seed!r}")
    if projection_dim not in ("auto", None) and (
        isinstance(projection_dim, bool) or not isinstance(projection_dim, int) or projection_dim <= 0
    ):
        raise CoresetError(f"projection_dim must be 'auto', None or a positive integer, got {projection_dim!r}")
    if num_threads is not None and (
        isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads <= 0
    ):
        raise CoresetError(f"num_threads must be None or a positive integer, got {num_threads!r}")
    coreset_size = int(n_samples * sampling_ratio)
    if coreset_size == 0:
        raise CoresetError(
            f"sampling_ratio {sampling_ratio} of {n_samples} samples selects no point; "
            f"use a ratio of at least {1 / n_samples:.3g}"
        )
    return coreset_size


def k_center_greedy(
    embedding: torch.Tensor,
    sampling_ratio: float,
    seed: int = 0,
    projection_dim: ProjectionDim = "auto",
    *,
    device: str | torch.device | None = None,
    num_threads: int | None = 1,
) -> torch.Tensor:
    """Indices of ``int(len(embedding) * sampling_ratio)`` rows chosen by greedy farthest-point selection.

    Same semantics as anomalib's ``KCenterGreedy.select_coreset_idxs``: the rows are randomly projected,
    a random row starts the coreset and each next row is the one farthest from all rows chosen so far.
    Differences: the seed alone fixes the result (projection and start are drawn from a private generator,
    not torch's global one); a chosen row is never chosen again, even among duplicate rows; and the
    projection is skipped where it would not reduce the dimension.

    Args:
        embedding: ``N × D`` floating-point features, on any device.
        sampling_ratio: fraction of rows to keep, in ``(0, 1]``.
        seed: seeds the projection matrix and the starting row.
        projection_dim: ``"auto"`` for anomalib's size (see :func:`projection_size`), an integer for that
            many dimensions, or ``None`` to select on the exact features.
        device: where to run the selection; by default the embedding's device (CUDA when it is there).
        num_threads: torch CPU threads for the greedy loop on the CPU (``None``: leave torch's setting).
            torch's thread count is process-wide, so it is set for the duration of the loop, then restored. Each
            step is a memory-bound matrix-vector product plus small vector operations, too little work to
            pay for thread synchronisation, so one thread is faster on a busy CPU (``benchmarks/bench_coreset.py``
            measures both).

    Returns:
        ``int64`` indices on the CPU, unique, in selection order (the first is the random start).

    Raises:
        CoresetError: when an argument is not accepted.
    """
    coreset_size = _validate(embedding, sampling_ratio, seed, projection_dim, num_threads)
    n_samples, n_features = embedding.shape
    target = torch.device(device) if device is not None else embedding.device
    dtype = torch.promote_types(embedding.dtype, torch.float32)
    generator = torch.Generator().manual_seed(seed)
    features = embedding.to(device=target, dtype=dtype)
    n_components = projection_size(n_samples, n_features) if projection_dim == "auto" else projection_dim
    if n_components is not None and n_components < n_features:
        projection = sparse_random_projection(n_features, n_components, generator)
        features = features @ projection.to(device=target, dtype=dtype)
    start = int(torch.randint(n_samples, (1,), generator=generator))
    with _cpu_threads(num_threads if target.type == "cpu" else None):
        return _farthest_points(features, start, coreset_size).cpu()


def _farthest_points(features: torch.Tensor, start: int, count: int) -> torch.Tensor:
    """Greedy farthest-point selection of ``count`` rows from ``start``; every buffer is allocated before the loop."""
    n_samples, dtype, device = features.shape[0], features.dtype, features.device
    selected = torch.empty(count, dtype=torch.long, device=device)
    selected[0] = start
    squared_norms = features.square().sum(dim=1)
    min_squared = torch.full((n_samples,), math.inf, dtype=dtype, device=device)
    squared = torch.empty_like(min_squared)
    centre = torch.empty((1, features.shape[1]), dtype=dtype, device=device)
    centre_squared_norm = torch.empty(1, dtype=dtype, device=device)
    for step in range(1, count):
        newest = selected[step - 1 : step]
        torch.index_select(features, 0, newest, out=centre)
        torch.index_select(squared_norms, 0, newest, out=centre_squared_norm)
        torch.addmv(squared_norms, features, centre[0], alpha=-2, out=squared)
        squared.add_(centre_squared_norm)
        torch.minimum(min_squared, squared, out=min_squared)
        min_squared.index_fill_(0, newest, -math.inf)
        torch.argmax(min_squared, dim=0, keepdim=True, out=selected[step : step + 1])
    return selected


class FastCoresetPatchcore(Patchcore):
    """anomalib's ``Patchcore`` with :func:`k_center_greedy` as its coreset step.

    Build it wherever a ``Patchcore`` would be built (``services.modeling.factory`` does): a subclass makes the
    swap visible in the type and needs no patching of anomalib objects. :meth:`fit` (run once after the
    training pass) differs, and ``map_sigma`` sets the Gaussian that smooths the anomaly maps (anomalib fixes it at
    4 px of the model input whatever the input size; :func:`~services.modeling.patchcore.maps.map_sigma_for` scales it),
    applied as two 1-D passes (:class:`~services.modeling.patchcore.maps.ScaledMapGenerator`). The other constructor
    arguments and the state-dict keys are ``Patchcore``'s; the hyper-parameters are ``Patchcore``'s plus
    ``map_sigma``, so checkpoints reload with this class (earlier ones, without the key, at anomalib's sigma; they
    also reload with ``Patchcore.load_from_checkpoint``). Only anomalib's ``Engine`` result folder
    is named after the class. The coreset seed is drawn from torch's global generator, where anomalib
    draws its random start, so ``lightning.seed_everything`` makes fitting reproducible.
    """

    def __init__(self, *args: Any, map_sigma: float = ANOMALIB_MAP_SIGMA, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model.anomaly_map_generator = ScaledMapGenerator(sigma=map_sigma)
        self.hparams["map_sigma"] = float(map_sigma)
        self._trained_images = 0
        self._input_size: tuple[int, int] = (0, 0)
        self.left_out: LeftOutScores | None = None
        """Every training image scored without its look-alike group's patches in the bank; set by :meth:`fit`."""
        self.bank_groups: BankGroups | None = None
        """The groups :attr:`left_out` used, to score held-out normals the same way; set by :meth:`fit`."""

    def training_step(self, batch: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        """anomalib's step (collect the batch's patch embeddings), counting the images and keeping the input size."""
        self._trained_images += len(batch.image)
        self._input_size = (int(batch.image.shape[-2]), int(batch.image.shape[-1]))
        return super().training_step(batch, *args, **kwargs)

    def fit(self) -> None:
        """Replace the collected training embeddings by their k-center-greedy coreset (the memory bank)."""
        store = self.model.embedding_store
        if not store:
            raise CoresetError("the embedding store is empty: run the training pass before fitting the memory bank")
        embedding = torch.vstack(store)
        store.clear()
        seed = int(torch.randint(2**31 - 1, (1,)).item())
        indices = k_center_greedy(embedding, self.coreset_sampling_ratio, seed=seed)
        self.model.memory_bank = embedding[indices.to(embedding.device)]
        if self._trained_images > 1:
            self.left_out, self.bank_groups = leave_group_out(
                self.model, embedding, indices, self._trained_images, self._input_size, seed=seed
            )
        self._trained_images = 0

    def score_out_of_group(self, inputs: torch.Tensor) -> LeftOutScores | None:
        """Held-out normals (pre-processed inputs) scored as :attr:`left_out` scored the training images; ``None``
        before :meth:`fit` has grouped them."""
        if self.bank_groups is None:
            return None
        return score_out_of_group(self.model, self.bank_groups, inputs.to(self.model.memory_bank.device))
