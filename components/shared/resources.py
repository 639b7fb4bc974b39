"""What loads once per process (``st.cache_resource``) and what is computed once per upload (session state).

Detectors, the embedder, the similarity store and each run's case library are shared by every session; predictions
are kept in the session keyed by the image bytes' sha256 and the run, so reruns (a slider moved, a region clicked)
never score an image twice, and only while the image is on the page (:func:`keep_only_images`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from services.data.images import LoadedImage, load_image
from services.inference.detector import Detector, Prediction
from services.jobs.commands import DEMO_KIND, TRAIN_KIND, index_writers
from services.records.database import database_url
from services.records.store import RecordStore
from services.registry.runs import Run, load_run
from services.settings import get_settings
from services.similarity.cases import CaseLibrary
from services.similarity.crop_embedder import Embedder
from services.similarity.store import SimilarityStore, StoreTarget, StoreUnavailableError, close_stores, open_store

PREDICTIONS_KEY = "_predictions"
DECODED_KEY = "_decoded"
NEIGHBOURS_KEY = "_neighbours"
BUSY_MESSAGES = {
    DEMO_KIND: "the similar-defect index is being built by the demo build in the background; it opens when the "
    "build ends",
    TRAIN_KIND: "the defect library is being updated by a training job; neighbours return when it finishes",
}


class StoreBusyError(StoreUnavailableError):
    """The embedded store is left to a background job that writes the index; it reopens when the job ends."""


@st.cache_resource(show_spinner="Loading the model…", max_entries=12)
def _detector(run_path: str, trained_at: str) -> Detector:
    """Cached per run folder and training time (a run retrained into the same folder is loaded again)."""
    return Detector(load_run(Path(run_path)), get_settings())


def detector(run: Run) -> Detector:
    """The run's model, loaded once per process."""
    return _detector(str(run.path), run.record.created_at)


@st.cache_resource(show_spinner="Loading the embedding backbone…")
def _embedder(weights_dir: str) -> Embedder:
    """Cached per weights folder (the argument is the cache key)."""
    settings = get_settings()
    return Embedder(settings, device=settings.resolved_device())


def _store_key() -> str:
    target = StoreTarget.from_settings(get_settings())
    return target.url or target.path


@st.cache_resource(show_spinner="Opening the similar-defect store…")
def _store(store_key: str) -> SimilarityStore:
    """Cached per server URL or embedded folder (the argument is the cache key)."""
    return open_store(get_settings())


def release_store() -> None:
    """Close the app's embedded store and forget every cached use of it, so a background job can write the index.

    A Qdrant server (``ANOMALYLENS_QDRANT_URL``) is shared by every process: nothing is released then.
    """
    if get_settings().qdrant_url:
        return
    _case_library.clear()
    _store.clear()
    close_stores()


def _refuse_while_indexing() -> None:
    """Raise ``StoreBusyError`` (after releasing the store) while a job that may write the embedded index runs."""
    settings = get_settings()
    writers = [] if settings.qdrant_url else index_writers(settings)
    if writers:
        release_store()
        raise StoreBusyError(BUSY_MESSAGES[writers[0].kind])


def store() -> SimilarityStore:
    """The Qdrant store of the current settings; raises ``StoreUnavailableError`` (never cached) when unreachable.

    While the demo build or a training job runs, the app leaves the embedded store to it (``StoreBusyError``): it
    writes the index at its end.
    """
    _refuse_while_indexing()
    return _store(_store_key())


@st.cache_resource(show_spinner="Reading the run's stored maps…", max_entries=12)
def _case_library(run_path: str, trained_at: str, store_key: str) -> CaseLibrary:
    """Cached per run folder, training time and store."""
    return CaseLibrary(load_run(Path(run_path)), store(), current_embedder(), get_settings())


def case_library(run: Run) -> CaseLibrary:
    """The indexed cases of ``run`` (raises ``StoreUnavailableError`` when the store is out of reach or busy)."""
    _refuse_while_indexing()
    return _case_library(str(run.path), run.record.created_at, _store_key())


def current_embedder() -> Embedder:
    """The region/image embedder (offline ImageNet backbone), loaded once per process and weights folder."""
    return _embedder(str(get_settings().weights_dir))


@st.cache_resource(show_spinner=False)
def _record_store(url: str, records_dir: str) -> RecordStore:
    """Cached per database and records folder (the arguments are the cache key)."""
    return RecordStore(get_settings())


def record_store() -> RecordStore:
    """The inspection records store of the current settings, opened once per process (it never raises for a
    database that is down: records are spooled)."""
    settings = get_settings()
    return _record_store(database_url(settings).render_as_string(), str(settings.records_dir))


def digest(data: bytes) -> str:
    """The sha256 of an image's bytes: the key of everything computed for it."""
    return hashlib.sha256(data).hexdigest()


def decoded(name: str, data: bytes) -> LoadedImage:
    """The image decoded once per session; raises ``ImageInputError`` naming the file for a bad one."""
    cache: dict[str, LoadedImage] = st.session_state.setdefault(DECODED_KEY, {})
    key = digest(data)
    if key not in cache:
        cache[key] = load_image(data, name=name, max_pixels=get_settings().max_image_pixels)
    return cache[key]


def _predictions() -> dict[tuple[str, str, str], Prediction]:
    return st.session_state.setdefault(PREDICTIONS_KEY, {})


def cached_prediction(run: Run, image_digest: str) -> Prediction | None:
    """The prediction of ``run`` on an image already scored in this session, if any."""
    return _predictions().get((image_digest, str(run.path), run.record.created_at))


def keep_only_images(digests: set[str]) -> None:
    """Forget what this session computed for images other than ``digests`` (decoded images, predictions, neighbour
    searches): an inspector's page may stay open all shift, and each entry holds image-sized arrays."""
    for name in (DECODED_KEY, PREDICTIONS_KEY, NEIGHBOURS_KEY):
        cache: dict[object, object] = st.session_state.get(name) or {}
        for key in [key for key in cache if (key if isinstance(key, str) else key[0]) not in digests]:  # type: ignore[index]
            del cache[key]


def predict(run: Run, image: LoadedImage, image_digest: str) -> Prediction:
    """The prediction of ``run`` on the image, at the calibrated threshold, computed once per session."""
    key = (image_digest, str(run.path), run.record.created_at)
    if key not in _predictions():
        _predictions()[key] = detector(run).predict(image)
    return _predictions()[key]
