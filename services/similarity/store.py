"""The similar-defect store: embeddings of defect regions and images in Qdrant, searched by cosine similarity.

One code path for both deployments, through ``qdrant_client.QdrantClient``: a Qdrant server when
``ANOMALYLENS_QDRANT_URL`` is set (with ``ANOMALYLENS_QDRANT_API_KEY``), otherwise the embedded store in
``Settings.qdrant_path``. :func:`open_store` keeps one client per target and process (the embedded store locks
its folder against every other client) and every call runs under one re-entrant lock (embedded mode is not
thread-safe).

Layout: one collection per *partition* ``(dataset, model, category, run, kind)``, named
``anomalylens__<dataset>__<model>__<category>__<kind>__<run>``. Embeddings are only comparable within one run
(backbone and layers fix the vector size and space), so a search names its run anyway; with the partition in the
collection name the common query ("regions most like this one, from other images") needs no payload filter.
That matters in embedded mode, where a payload filter is evaluated in Python over every point, far slower than an
unfiltered exact search (``benchmarks/bench_qdrant.py``, docs/results.md). Payload-only
conditions (``defect_type``, ``exclude_image_path``) are therefore applied to an over-fetched unfiltered result
(exact, because the search is exact and ranked), falling back to a Qdrant payload filter only when they are too
selective for that.

Similarity is cosine, stored as Qdrant's ``DOT`` distance over vectors the store normalises to unit length (same
scores and ranking on a server): embedded ``COSINE`` re-normalises the whole collection on every query, which
doubles its cost.

Embedded writes: qdrant-client stores each point in SQLite as its own transaction, and with SQLite's default
rollback journal every transaction costs several fsyncs.
The store switches each embedded collection's connection to write-ahead logging with ``synchronous=NORMAL``
(:meth:`SimilarityStore._relax_embedded_fsync`, through qdrant-client internals pinned by requirements.txt):
a process crash loses nothing, an OS crash or power cut can lose the last writes but never corrupts the file,
and ingest is many times faster (``benchmarks/bench_qdrant.py``, docs/results.md). The index is rebuilt from runs,
so that durability is enough.
"""

from __future__ import annotations

import atexit
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ApiException
from qdrant_client.local.qdrant_local import QdrantLocal

from services.data.datasets import DatasetName, Split
from services.registry.writable import is_not_writable, not_writable
from services.settings import PREFIX, Settings, get_settings

Kind = Literal["region", "image"]
KINDS: tuple[str, ...] = get_args(Kind)
Source = Literal["test", "production"]
"""Where a point's defect is known from: the run's labelled test split, or an inspection an engineer confirmed."""
SOURCES: tuple[str, ...] = get_args(Source)
PRODUCTION: Source = "production"
UNKNOWN_DEFECT = "unknown"
"""``defect_type`` of items without ground truth; never wins a :func:`vote_defect_type`."""
COLLECTION_PREFIX = "anomalylens"
SEPARATOR = "__"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "similarity.anomalylens")
UPSERT_BATCH = 256
"""Points per write; the lock is released between writes so searches interleave with a long ingest."""
OVERFETCH_FACTOR = 4
OVERFETCH_LIMIT = 320
"""Largest unfiltered fetch tried before a payload-only condition is handed to Qdrant as a filter."""
SERVER_TIMEOUT_S = 10


class SimilarityInputError(ValueError):
    """A vector, payload or query the store does not accept."""


class StoreUnavailableError(RuntimeError):
    """The store cannot be used: embedded folder locked by another process or damaged, server down or refusing us."""


def _check_name(field_name: str, value: str) -> None:
    if not NAME_PATTERN.fullmatch(value) or SEPARATOR in value:
        raise SimilarityInputError(
            f"{field_name}={value!r} is not accepted; use letters, digits, '.', '-' and single '_' "
            "(it is part of a collection name)"
        )


@dataclass(frozen=True)
class ItemPayload:
    """What is stored with each vector. ``region_id`` is 0 and ``bbox`` ``None`` for image-level items."""

    dataset: DatasetName
    category: str
    model: str
    run: str
    kind: Kind
    image_path: str
    split: Split
    score: float
    defect_type: str = UNKNOWN_DEFECT
    region_id: int = 0
    bbox: tuple[int, int, int, int] | None = None
    """``(x, y, width, height)`` of the region in image pixels."""
    source: Source = "test"
    record_id: str = ""
    """The inspection record a ``production`` point was confirmed from; empty for ``test`` points."""

    def __post_init__(self) -> None:
        for name in ("dataset", "model", "category", "run"):
            _check_name(name, getattr(self, name))
        if self.kind not in KINDS:
            raise SimilarityInputError(f"kind={self.kind!r} is not one of {', '.join(KINDS)}")
        if not self.image_path:
            raise SimilarityInputError("image_path must not be empty")
        if self.region_id < 0:
            raise SimilarityInputError(f"region_id must be 0 (image) or positive, got {self.region_id}")
        if self.bbox is not None and len(self.bbox) != 4:
            raise SimilarityInputError(f"bbox must be (x, y, width, height), got {self.bbox}")
        if self.source not in SOURCES:
            raise SimilarityInputError(f"source={self.source!r} is not one of {', '.join(SOURCES)}")
        if (self.source == PRODUCTION) != bool(self.record_id):
            raise SimilarityInputError("a production point needs its record_id, and only a production point has one")

    @property
    def partition(self) -> Partition:
        """The collection this item lives in."""
        return Partition(self.dataset, self.model, self.category, self.run, self.kind)

    @property
    def point_id(self) -> str:
        """Deterministic id: re-indexing the same region or image (of the same record) overwrites its point."""
        parts = (self.dataset, self.model, self.run, self.image_path, self.kind, str(self.region_id))
        return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts + ((self.record_id,) if self.record_id else ()))))

    def to_json(self) -> dict[str, Any]:
        """The Qdrant payload."""
        payload = asdict(self)
        payload.update(
            score=float(self.score),
            region_id=int(self.region_id),
            bbox=None if self.bbox is None else [int(v) for v in self.bbox],
        )
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ItemPayload:
        """Inverse of :meth:`to_json`."""
        bbox = payload.get("bbox")
        return cls(**{**payload, "bbox": None if bbox is None else tuple(bbox)})


@dataclass(frozen=True)
class Partition:
    """The key of one collection: vectors of one run and kind."""

    dataset: str
    model: str
    category: str
    run: str
    kind: str

    @property
    def collection(self) -> str:
        """The Qdrant collection name."""
        return SEPARATOR.join((COLLECTION_PREFIX, self.dataset, self.model, self.category, self.kind, self.run))

    @classmethod
    def parse(cls, collection: str) -> Partition | None:
        """The partition of one of our collection names, ``None`` for any other collection."""
        parts = collection.split(SEPARATOR, 5)
        if len(parts) != 6 or parts[0] != COLLECTION_PREFIX or parts[4] not in KINDS:
            return None
        _, dataset, model, category, kind, run = parts
        return cls(dataset, model, category, run, kind)


@dataclass(frozen=True, eq=False)
class IndexedItem:
    """One vector to store with its payload."""

    vector: np.ndarray
    payload: ItemPayload


@dataclass(frozen=True)
class Neighbour:
    """A search hit: point id, cosine similarity to the query (1 = same direction) and payload."""

    id: str
    similarity: float
    payload: ItemPayload


@dataclass(frozen=True)
class StoredItem:
    """A stored point as listed by :meth:`SimilarityStore.browse`."""

    id: str
    payload: ItemPayload


@dataclass(frozen=True)
class SearchFilters:
    """Which points a search, count or browse considers; ``None`` means any value.

    ``dataset``, ``model``, ``category``, ``run`` and ``kind`` choose collections; ``defect_type``,
    ``exclude_image_path`` (leave out the query's own image), ``source`` and ``record_id`` are conditions on the
    payload (``source="test"`` also matches points stored before sources were recorded).
    """

    dataset: str | None = None
    category: str | None = None
    model: str | None = None
    run: str | None = None
    kind: str | None = None
    defect_type: str | None = None
    exclude_image_path: str | None = None
    source: str | None = None
    record_id: str | None = None

    def selects(self, partition: Partition) -> bool:
        """Whether the collection of ``partition`` is searched."""
        keys = ("dataset", "model", "category", "run", "kind")
        return all(getattr(self, key) in (None, getattr(partition, key)) for key in keys)

    def accepts(self, payload: ItemPayload) -> bool:
        """Whether a point of a selected collection passes the payload conditions."""
        if self.defect_type is not None and payload.defect_type != self.defect_type:
            return False
        if self.source is not None and payload.source != self.source:
            return False
        if self.record_id is not None and payload.record_id != self.record_id:
            return False
        return self.exclude_image_path is None or payload.image_path != self.exclude_image_path

    def payload_filter(self) -> models.Filter | None:
        """The payload conditions as a Qdrant filter, ``None`` when there are none."""
        must = [
            models.FieldCondition(key=key, match=models.MatchValue(value=value))
            for key, value in (("defect_type", self.defect_type), ("record_id", self.record_id))
            if value is not None
        ]
        must_not = []
        if self.exclude_image_path is not None:
            match = models.MatchValue(value=self.exclude_image_path)
            must_not.append(models.FieldCondition(key="image_path", match=match))
        production = models.FieldCondition(key="source", match=models.MatchValue(value=PRODUCTION))
        if self.source is not None:  # two sources: "test" is every point not confirmed in production
            (must if self.source == PRODUCTION else must_not).append(production)
        if not must and not must_not:
            return None
        return models.Filter(must=must or None, must_not=must_not or None)


@dataclass(frozen=True)
class DefectVote:
    """Majority defect type among neighbours: ``votes`` of ``total`` neighbours carry ``label``."""

    label: str
    votes: int
    total: int
    confidence: float
    """``votes / total``; 0 without neighbours."""

    @property
    def summary(self) -> str:
        """E.g. ``likely crack, 4 of 5``."""
        if self.votes == 0:
            return f"no labelled neighbours among {self.total}"
        return f"likely {self.label}, {self.votes} of {self.total}"


def vote_defect_type(neighbours: Sequence[Neighbour]) -> DefectVote:
    """The most frequent known ``defect_type`` among ``neighbours`` (ties: higher summed similarity, then name).

    Neighbours of unknown type count in ``total`` but never vote.
    """
    counts: Counter[str] = Counter()
    similarity: Counter[str] = Counter()
    for neighbour in neighbours:
        label = neighbour.payload.defect_type
        if label != UNKNOWN_DEFECT:
            counts[label] += 1
            similarity[label] += neighbour.similarity
    total = len(neighbours)
    if not counts:
        return DefectVote(UNKNOWN_DEFECT, 0, total, 0.0)
    label = min(counts, key=lambda name: (-counts[name], -similarity[name], name))
    return DefectVote(label, counts[label], total, counts[label] / total)


def _unit_vector(vector: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise SimilarityInputError(f"{what} must be a non-empty 1-D vector, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise SimilarityInputError(f"{what} contains NaN or infinite values")
    norm = float(np.linalg.norm(array))
    if norm == 0.0:
        raise SimilarityInputError(f"{what} is all zeros; cosine similarity is undefined for it")
    return array / norm


class SimilarityStore:
    """Vectors of defect regions and images, one collection per :class:`Partition`; every call is thread-safe."""

    def __init__(self, client: QdrantClient, target: str) -> None:
        self._client = client
        self._target = target
        self._lock = threading.RLock()
        self._dims: dict[str, int] = {}
        local = client._client
        self._embedded_folder = local if isinstance(local, QdrantLocal) and local.persistent else None
        if self._embedded_folder is not None:
            for collection in self._embedded_folder.collections:
                self._relax_embedded_fsync(collection)

    @property
    def target(self) -> str:
        """Where the store lives: a server URL or the embedded folder."""
        return self._target

    def _relax_embedded_fsync(self, collection: str) -> None:
        """Embedded folder only: WAL journal without an fsync per transaction (see the module docstring)."""
        if self._embedded_folder is not None:
            connection = self._embedded_folder.collections[collection].storage.storage
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def _session(self) -> Iterator[QdrantClient]:
        """The client under the store lock; server failures become :class:`StoreUnavailableError`."""
        with self._lock:
            try:
                yield self._client
            except ApiException as exc:
                raise StoreUnavailableError(f"Qdrant at {self._target} failed: {exc}") from exc

    def _partitions(self, filters: SearchFilters) -> list[Partition]:
        with self._session() as client:
            names = [collection.name for collection in client.get_collections().collections]
        partitions = [partition for partition in map(Partition.parse, names) if partition is not None]
        return sorted((p for p in partitions if filters.selects(p)), key=lambda p: p.collection)

    def _dimension(self, collection: str) -> int:
        if collection not in self._dims:
            with self._session() as client:
                vectors = client.get_collection(collection).config.params.vectors
            self._dims[collection] = int(vectors.size)  # type: ignore[union-attr]
        return self._dims[collection]

    def _ensure_collection(self, collection: str, dim: int) -> None:
        with self._session() as client:
            if not client.collection_exists(collection):
                params = models.VectorParams(size=dim, distance=models.Distance.DOT)
                client.create_collection(collection, vectors_config=params)
                self._relax_embedded_fsync(collection)
                self._dims[collection] = dim
        if self._dimension(collection) != dim:
            raise SimilarityInputError(
                f"collection {collection} holds {self._dimension(collection)}-d vectors, got {dim}-d; "
                "delete the run's vectors before indexing it with another backbone"
            )

    def upsert(self, items: Iterable[IndexedItem]) -> int:
        """Store ``items`` (overwriting points with the same id); returns how many were written."""
        grouped: dict[str, list[tuple[np.ndarray, ItemPayload]]] = {}
        for item in items:
            vector = _unit_vector(item.vector, f"vector of {item.payload.image_path}")
            grouped.setdefault(item.payload.partition.collection, []).append((vector, item.payload))
        for collection, entries in grouped.items():
            dims = {vector.size for vector, _ in entries}
            if len(dims) > 1:
                raise SimilarityInputError(f"vectors for {collection} differ in size: {sorted(dims)}")
            self._ensure_collection(collection, dims.pop())
        for collection, entries in grouped.items():
            for start in range(0, len(entries), UPSERT_BATCH):
                chunk = entries[start : start + UPSERT_BATCH]
                batch = models.Batch(
                    ids=[payload.point_id for _, payload in chunk],
                    vectors=np.stack([vector for vector, _ in chunk]).tolist(),
                    payloads=[payload.to_json() for _, payload in chunk],
                )
                with self._session() as client:
                    client.upsert(collection, points=batch, wait=True)
        return sum(len(entries) for entries in grouped.values())

    def _nearest(self, collection: str, query: np.ndarray, k: int, filters: SearchFilters) -> list[Neighbour]:
        """Top ``k`` of one collection passing ``filters``' payload conditions (see the module docstring)."""

        def fetch(limit: int, condition: models.Filter | None = None) -> list[Neighbour]:
            with self._session() as client:
                points = client.query_points(
                    collection, query=query, limit=limit, query_filter=condition, with_payload=True
                ).points
            return [Neighbour(str(p.id), float(p.score), ItemPayload.from_json(p.payload or {})) for p in points]

        condition = filters.payload_filter()
        if condition is None:
            return fetch(k)
        limit = k * OVERFETCH_FACTOR
        while limit <= OVERFETCH_LIMIT:
            fetched = fetch(limit)
            kept = [neighbour for neighbour in fetched if filters.accepts(neighbour.payload)]
            if len(kept) >= k or len(fetched) < limit:
                return kept[:k]
            limit *= OVERFETCH_FACTOR
        return fetch(k, condition)

    def search(self, vector: np.ndarray, k: int = 5, filters: SearchFilters | None = None) -> list[Neighbour]:
        """The ``k`` stored points most similar to ``vector`` among those ``filters`` select, most similar first.

        Every selected collection must hold vectors of ``vector``'s size (vectors of different runs are not
        comparable); otherwise :class:`SimilarityInputError` says which filters to narrow.
        """
        filters = filters or SearchFilters()
        if k < 1:
            raise SimilarityInputError(f"k must be at least 1, got {k}")
        query = _unit_vector(vector, "query vector")
        with self._lock:
            partitions = self._partitions(filters)
            mismatched = [p.collection for p in partitions if self._dimension(p.collection) != query.size]
            if mismatched:
                raise SimilarityInputError(
                    f"query is {query.size}-d but {', '.join(mismatched)} hold other sizes; "
                    "narrow the filters to the run that produced the query (dataset, model, category, run, kind)"
                )
            hits = [hit for p in partitions for hit in self._nearest(p.collection, query, k, filters)]
        return sorted(hits, key=lambda hit: -hit.similarity)[:k]

    def count(self, filters: SearchFilters | None = None) -> int:
        """Number of stored points ``filters`` select."""
        filters = filters or SearchFilters()
        condition = filters.payload_filter()
        with self._session() as client:
            return sum(
                client.count(p.collection, count_filter=condition, exact=True).count for p in self._partitions(filters)
            )

    def browse(self, filters: SearchFilters | None = None, limit: int = 24, offset: int = 0) -> list[StoredItem]:
        """One page of stored points for a gallery: a stable order (collection, then point id)."""
        filters = filters or SearchFilters()
        if limit < 1 or offset < 0:
            raise SimilarityInputError(f"limit must be ≥ 1 and offset ≥ 0, got limit={limit}, offset={offset}")
        condition = filters.payload_filter()
        page: list[StoredItem] = []
        with self._session() as client:
            for partition in self._partitions(filters):
                size = client.count(partition.collection, count_filter=condition, exact=True).count
                if offset >= size:
                    offset -= size
                    continue
                records, _ = client.scroll(
                    partition.collection, scroll_filter=condition, limit=offset + limit - len(page), with_payload=True
                )
                page.extend(StoredItem(str(r.id), ItemPayload.from_json(r.payload or {})) for r in records[offset:])
                offset = 0
                if len(page) >= limit:
                    break
        return page

    def delete(self, filters: SearchFilters) -> int:
        """Remove the points ``filters`` select, which must name a payload condition (a whole run: :meth:`delete_run`);
        returns how many were removed."""
        condition = filters.payload_filter()
        if condition is None:
            raise SimilarityInputError("delete needs a payload condition (source, record_id, …); use delete_run")
        removed = 0
        with self._session() as client:
            for partition in self._partitions(filters):
                removed += client.count(partition.collection, count_filter=condition, exact=True).count
                client.delete(partition.collection, points_selector=models.FilterSelector(filter=condition), wait=True)
        return removed

    def delete_run(self, dataset: str, model: str, category: str, run: str) -> int:
        """Remove every vector of one run (both kinds); returns how many points were removed."""
        filters = SearchFilters(dataset=dataset, model=model, category=category, run=run)
        removed = 0
        with self._session() as client:
            for partition in self._partitions(filters):
                removed += client.count(partition.collection, exact=True).count
                client.delete_collection(partition.collection)
                self._dims.pop(partition.collection, None)
        return removed

    def close(self) -> None:
        """Release the client (and the embedded folder's lock)."""
        with self._lock:
            self._client.close()


@dataclass(frozen=True)
class StoreTarget:
    """Where a store lives; the cache key of :func:`open_store`."""

    url: str
    api_key: str
    path: str

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreTarget:
        """The server when ``qdrant_url`` is set, otherwise the embedded folder."""
        if settings.qdrant_url:
            return cls(url=settings.qdrant_url, api_key=settings.qdrant_api_key, path="")
        return cls(url="", api_key="", path=str(settings.qdrant_path))


_STORES: dict[StoreTarget, SimilarityStore] = {}
_STORES_LOCK = threading.Lock()


def _held_elsewhere(target: StoreTarget, exc: Exception) -> StoreUnavailableError:
    """The embedded folder is in use by another process (qdrant-client admits one client per folder)."""
    return StoreUnavailableError(
        f"embedded Qdrant store at {target.path} cannot be opened: {exc} "
        f"Stop the other process using it, or set {PREFIX}QDRANT_URL to a Qdrant server for shared access."
    )


def _connect(target: StoreTarget) -> SimilarityStore:
    if target.url:
        client = QdrantClient(
            url=target.url, api_key=target.api_key or None, timeout=SERVER_TIMEOUT_S, check_compatibility=False
        )
        try:
            client.get_collections()
        except (ApiException, OSError) as exc:
            client.close()
            raise StoreUnavailableError(f"Qdrant server at {target.url} is unreachable or refused us: {exc}") from exc
        return SimilarityStore(client, target.url)
    try:
        client = QdrantClient(path=target.path)
    except OSError as exc:
        if not is_not_writable(exc):
            raise _held_elsewhere(target, exc) from exc
        # qdrant-client locks the folder with a file in it, so even a store only read needs a writable folder
        refused = not_writable("open the embedded Qdrant store", Path(target.path), exc)
        raise StoreUnavailableError(str(refused)) from exc
    except RuntimeError as exc:
        raise _held_elsewhere(target, exc) from exc
    except Exception as exc:  # damaged files: JSON, SQLite or pickle errors from qdrant-client's loader
        raise StoreUnavailableError(
            f"embedded Qdrant store at {target.path} is damaged and cannot be read ({type(exc).__name__}: {exc}). "
            "Move the folder away and rebuild the index with `python -m services.cli index`."
        ) from exc
    return SimilarityStore(client, target.path)


def open_store(settings: Settings | None = None) -> SimilarityStore:
    """The process-wide store for ``settings`` (default: :func:`get_settings`), opened on first use.

    Raises :class:`StoreUnavailableError` when it cannot be opened; a failed open is not remembered, so a later
    call retries.
    """
    target = StoreTarget.from_settings(settings or get_settings())
    with _STORES_LOCK:
        if target not in _STORES:
            _STORES[target] = _connect(target)
        return _STORES[target]


def close_stores() -> None:
    """Close every store :func:`open_store` handed out (releasing embedded folder locks) and forget them.

    Also runs at interpreter exit, while modules are still importable: an embedded client left to its ``__del__``
    during shutdown prints an ``ImportError`` traceback.
    """
    with _STORES_LOCK:
        for store in _STORES.values():
            store.close()
        _STORES.clear()


atexit.register(close_stores)
