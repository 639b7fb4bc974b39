"""A run's model files against the sha256 its manifest recorded when the run was written: a changed file is refused.

A checkpoint changed after training (a copy cut short, a disk error, another model copied over it) would serve
verdicts that the run's metrics and thresholds do not describe, so such a run is never loaded. Hashing reads the
whole file, so each file's sha256 is kept per (path, modification time, size) and read again only when one of them
changes: the check runs on every page run and model load at the cost of a ``stat``.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from services.data.datasets import file_sha256
from services.registry.runs import CHECKPOINT, IMPORTED_IR, MANIFEST, RegistryError, Run, read_manifest

MODEL_FILES = (CHECKPOINT, IMPORTED_IR, Path(IMPORTED_IR).with_suffix(".bin").name)
"""The files a run's model is loaded from: the checkpoint, or an imported OpenVINO IR and its weights."""
SHA_SHOWN = 12
K = TypeVar("K", bound=Hashable)


class ModelIntegrityError(RegistryError):
    """A run's model file differs from its manifest, so the run is not loaded."""


@dataclass(frozen=True)
class ModelIntegrity:
    """The model files of one run that differ from its manifest (none: the run may be loaded)."""

    run_path: Path
    changed: tuple[str, ...]
    """One line per changed file: its name, its sha256 now and the one the manifest recorded."""

    @property
    def ok(self) -> bool:
        """Whether every model file is as the manifest recorded (or the run predates manifests)."""
        return not self.changed

    @property
    def reason(self) -> str:
        """Why the run is refused, naming the files and the way out; empty when it is not."""
        if self.ok:
            return ""
        return (
            f"run {self.run_path} is refused: {'; '.join(self.changed)}. Its metrics and thresholds describe the "
            "model it was trained with: restore that file, or train the run again"
        )


@functools.lru_cache(maxsize=1024)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """The file's sha256, cached per (path, modification time, size)."""
    return file_sha256(Path(path))


def current_sha256(path: Path) -> str:
    """The sha256 of ``path``, hashed again only when its modification time or size changed."""
    stat = path.stat()
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


def _difference(folder: Path, name: str, recorded: str | None) -> str:
    """How the model file ``name`` differs from its manifest entry; empty when it does not."""
    file = folder / name
    if not file.is_file():
        return "" if recorded is None else f"its {name} is missing (the manifest records {recorded[:SHA_SHOWN]}…)"
    if recorded is None:
        return f"its {name} is not in its {MANIFEST}: the file was added after the run was written"
    actual = current_sha256(file)
    if actual == recorded:
        return ""
    return (
        f"its {name} changed after the run was written (sha256 {actual[:SHA_SHOWN]}…, "
        f"the manifest records {recorded[:SHA_SHOWN]}…)"
    )


def check_model(run: Run) -> ModelIntegrity:
    """The run's model files against its manifest; a run without a manifest (written before them) passes."""
    if not (run.path / MANIFEST).is_file():
        return ModelIntegrity(run.path, ())
    try:
        manifest = read_manifest(run.path)
    except ValueError as exc:
        return ModelIntegrity(run.path, (f"its {MANIFEST} cannot be read ({exc})",))
    differences = (_difference(run.path, name, manifest.get(name)) for name in MODEL_FILES)
    return ModelIntegrity(run.path, tuple(text for text in differences if text))


def verify_model(run: Run) -> None:
    """Raise :class:`ModelIntegrityError` with the reason when the run's model files differ from its manifest."""
    integrity = check_model(run)
    if not integrity.ok:
        raise ModelIntegrityError(integrity.reason)


def usable_runs(runs: Mapping[K, Run]) -> tuple[dict[K, Run], list[ModelIntegrity]]:
    """The runs whose model files match their manifests, and the check of each run refused (for the reason)."""
    checks = {key: check_model(run) for key, run in runs.items()}
    usable = {key: run for key, run in runs.items() if checks[key].ok}
    return usable, [check for check in checks.values() if not check.ok]
