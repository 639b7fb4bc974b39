"""A past inspection found again: its stored image and the run that judged it, checked to be the same model.

The image comes from the content-addressed store by the record's sha256; the run from the registry by the record's
run id, and its model file (checkpoint, else imported IR) must still hash to the record's checkpoint sha256. Where
either is missing or the model changed, :attr:`PastInspection.problems` says so, naming the file or run, and the
heatmap is not redrawn with another model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from services.data.datasets import file_sha256
from services.records.image_store import ImageStore
from services.records.record import InspectionRecord
from services.registry.runs import RegistryError, Run, load_run
from services.settings import Settings

SHORT = 12
"""Hex digits of a sha256 shown in a message."""


@dataclass(frozen=True)
class PastInspection:
    """A record with its image bytes and its run where they are still there, and why not where they are not."""

    record: InspectionRecord
    image: bytes | None
    run: Run | None
    problems: tuple[str, ...] = ()

    @property
    def reproducible(self) -> bool:
        """Whether the image and the very model that judged it are there, so the heatmap can be redrawn."""
        return self.image is not None and self.run is not None and not self.problems


def _image(record: InspectionRecord, settings: Settings) -> tuple[bytes | None, str]:
    store = ImageStore(settings.records_dir)
    try:
        return store.read(record.image_sha256), ""
    except OSError:
        return None, (
            f"The image {record.image_name!r} (sha256 {record.image_sha256[:SHORT]}…) is not in "
            f"{store.path(record.image_sha256)}: it could not be kept when it was recorded, or was removed since."
        )


def _model_file(run: Run) -> Path:
    return run.checkpoint if run.checkpoint.is_file() else run.ir


@lru_cache(maxsize=64)
def _hashed(path: str, _modified_ns: int, _size: int) -> str:
    """A file's sha256, hashed again only when its modification time or size changes (each page rerun reopens)."""
    return file_sha256(Path(path))


def model_sha256(run: Run) -> str:
    """The sha256 of the run's model file as it is on disk now (not as its manifest says)."""
    path = _model_file(run)
    stat = path.stat()
    return _hashed(str(path), stat.st_mtime_ns, stat.st_size)


def find_run(record: InspectionRecord, settings: Settings) -> Run | None:
    """The record's run folder where it is still in the registry (and inside it), whatever its model is now."""
    registry = settings.registry_dir.resolve()
    folder = (registry / record.run_id).resolve()
    if not folder.is_relative_to(registry):
        return None
    try:
        return load_run(folder)
    except (RegistryError, OSError, ValueError):
        return None


def _run(record: InspectionRecord, settings: Settings) -> tuple[Run | None, str]:
    run = find_run(record, settings)
    if run is None:
        return None, (
            f"Run {record.run_id} is no longer in the registry ({settings.registry_dir}): it was removed or renamed, "
            "so the model that judged this inspection cannot redraw its heatmap."
        )
    current = model_sha256(run)
    if record.checkpoint_sha256 is not None and current != record.checkpoint_sha256:
        return None, (
            f"Run {record.run_id} has changed since this inspection: its model file {_model_file(run).name} has "
            f"sha256 {current[:SHORT]}… now, {record.checkpoint_sha256[:SHORT]}… then. The model that judged it is "
            "gone (retrained or replaced in place), so its heatmap is not redrawn with another model."
        )
    return run, ""


def locate(record: InspectionRecord, settings: Settings) -> PastInspection:
    """The record's image and run, each checked; ``problems`` names what is missing or changed."""
    image, image_problem = _image(record, settings)
    run, run_problem = _run(record, settings)
    problems = tuple(problem for problem in (image_problem, run_problem) if problem)
    return PastInspection(record=record, image=image, run=run, problems=problems)
