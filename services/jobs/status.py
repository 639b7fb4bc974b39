"""A job's state on disk, ``<registry>/jobs/<id>/status.json``: written atomically, read back after a reload or a
server restart; a job whose worker process is gone without finishing reads as failed (or cancelled), never running."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from services.registry.runs import pid_alive

STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
CANCEL_FILE = "cancel-requested"
LOCK_FILE = ".lock"
ACTIVE_STATES = ("starting", "running")
FINAL_STATES = ("succeeded", "failed", "cancelled")
START_GRACE_S = 60.0
"""How long a job may stay ``starting`` before its worker process has reported in."""


@dataclass(frozen=True)
class JobStatus:
    """What ``status.json`` holds: the command, its state, progress, worker pid, times and result or error."""

    id: str
    kind: str
    title: str
    argv: list[str]
    state: str
    started_at: float
    updated_at: float
    fraction: float = 0.0
    stage: str = ""
    pid: int = 0
    finished_at: float = 0.0
    result: str = ""
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Still starting or running."""
        return self.state in ACTIVE_STATES

    def elapsed_s(self, now: float) -> float:
        """Seconds since the job started, up to its end when it has finished."""
        return max((self.finished_at or now) - self.started_at, 0.0)

    def eta_s(self, now: float) -> float | None:
        """Seconds left, extrapolated from the time taken so far; ``None`` before the first progress or at the end."""
        if not self.active or not 0.0 < self.fraction < 1.0:
            return None
        return self.elapsed_s(now) * (1.0 - self.fraction) / self.fraction


@contextmanager
def _locked(job_dir: Path) -> Iterator[None]:
    with (job_dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(job_dir: Path, status: JobStatus) -> None:
    temporary = job_dir / f".{STATUS_FILE}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(asdict(status), indent=2, sort_keys=True))
    os.replace(temporary, job_dir / STATUS_FILE)


def create_status(job_dir: Path, status: JobStatus) -> None:
    """Write a new job's first status."""
    job_dir.mkdir(parents=True, exist_ok=False)
    with _locked(job_dir):
        _write(job_dir, status)


def read_status(job_dir: Path) -> JobStatus:
    """``status.json`` as written (see :func:`observed_status` for what it means now)."""
    data = json.loads((job_dir / STATUS_FILE).read_text())
    return JobStatus(**{name: data[name] for name in JobStatus.__dataclass_fields__ if name in data})


def update_status(job_dir: Path, **changes: Any) -> JobStatus:
    """Read, change and write the status under the job's lock, so the worker and the app never lose an update."""
    with _locked(job_dir):
        status = replace(read_status(job_dir), updated_at=time.time(), **changes)
        _write(job_dir, status)
    return status


def worker_alive(job_dir: Path, pid: int) -> bool:
    """Whether ``pid`` is this job's worker (a reused pid or a zombie does not count)."""
    if not pid_alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():
        return True
    try:
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
    except (OSError, IndexError):
        return False
    # A process caught just after exec shows an empty command line for a moment; a zombie has exited.
    return state not in ("Z", "X") and (not cmdline or str(job_dir) in cmdline.split("\0"))


def observed_status(job_dir: Path, now: float | None = None) -> JobStatus:
    """The status as it stands: an active job whose worker is gone is cancelled (if asked) or failed."""
    status = read_status(job_dir)
    now = time.time() if now is None else now
    if not status.active:
        return status
    if status.state == "starting" and status.pid == 0 and now - status.started_at < START_GRACE_S:
        return status
    if worker_alive(job_dir, status.pid):
        return status
    if (job_dir / CANCEL_FILE).exists():
        return replace(status, state="cancelled", finished_at=status.updated_at)
    return replace(
        status,
        state="failed",
        finished_at=status.updated_at,
        error=f"the worker process ({status.pid or 'never started'}) ended without finishing; see {job_dir / LOG_FILE}",
    )
