"""Background jobs: a command line run by a worker process of its own session, tracked in ``<registry>/jobs/<id>/``.

The app starts a job and returns at once; the page reads the job's status on each rerun, whichever session or
server process started it. Cancelling terminates the worker's whole process group.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.access import ActingUser, Action, require
from services.jobs.status import (
    CANCEL_FILE,
    LOCK_FILE,
    STATUS_FILE,
    JobStatus,
    create_status,
    observed_status,
    read_status,
    update_status,
    worker_alive,
)
from services.registry.runs import JOBS, remove_stale_partials
from services.registry.writable import ensure_writable
from services.settings import PROJECT_ROOT, Settings

WORKER_MODULE = "services.jobs.worker"
WORKER_LOG = "worker.log"
JOB_ID = re.compile(r"^[A-Za-z0-9_-]+$")
CANCEL_WAIT_S = 10.0


class JobError(ValueError):
    """A job that does not exist or cannot be started."""


def cli_argv(*args: str) -> list[str]:
    """The command line of ``python -m services.cli <args>`` with this interpreter."""
    return [sys.executable, "-m", "services.cli", *args]


def jobs_root(settings: Settings) -> Path:
    """``<registry>/jobs``: one folder per job."""
    return settings.registry_dir / JOBS


def job_dir(settings: Settings, job_id: str) -> Path:
    """The folder of job ``job_id``; raises JobError for a malformed id or an unknown job."""
    folder = jobs_root(settings) / job_id
    if not JOB_ID.match(job_id) or not (folder / STATUS_FILE).is_file():
        raise JobError(f"no job {job_id!r} in {jobs_root(settings)}")
    return folder


def start_job(
    settings: Settings, kind: str, title: str, argv: Sequence[str], details: dict[str, Any] | None = None
) -> JobStatus:
    """Write the job's first status and start its worker in a new session; returns without waiting (raises
    ``NotWritableError`` naming the folder where the registry is read-only)."""
    root = jobs_root(settings)
    ensure_writable(root, f"start the job '{title}'")
    job_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{kind}-{secrets.token_hex(3)}"
    folder = root / job_id
    now = time.time()
    first = JobStatus(
        id=job_id,
        kind=kind,
        title=title,
        argv=list(argv),
        state="starting",
        started_at=now,
        updated_at=now,
        details=details or {},
    )
    create_status(folder, first)
    with (folder / WORKER_LOG).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, str(folder)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **settings.to_env()},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    return update_status(folder, pid=process.pid)


def list_jobs(settings: Settings, kind: str | None = None) -> list[JobStatus]:
    """Every job as it stands now (a dead worker reads as failed), newest first."""
    root = jobs_root(settings)
    files = root.glob(f"*/{STATUS_FILE}") if root.is_dir() else ()
    jobs = sorted((observed_status(path.parent) for path in files), key=lambda job: job.started_at, reverse=True)
    return [job for job in jobs if kind is None or job.kind == kind]


def start_exclusive(
    settings: Settings, kind: str, title: str, argv: Sequence[str], details: dict[str, Any] | None = None
) -> JobStatus:
    """Start a job unless one of the same kind is active (checked under a lock file); returns the one running."""
    root = jobs_root(settings)
    ensure_writable(root, f"start the job '{title}'")
    with (root / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            running = [job for job in list_jobs(settings, kind) if job.active]
            return running[0] if running else start_job(settings, kind, title, argv, details)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_until_gone(folder: Path, pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while worker_alive(folder, pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def cancel_job(settings: Settings, job_id: str, *, user: ActingUser, timeout_s: float = CANCEL_WAIT_S) -> JobStatus:
    """Terminate the job's process group (SIGTERM, then SIGKILL after ``timeout_s``); the job ends ``cancelled``.
    Jobs train, so ``user`` must be allowed to train (``AccessDeniedError``)."""
    require(user, Action.TRAIN)
    folder = job_dir(settings, job_id)
    status = observed_status(folder)
    if not status.active:
        return status
    (folder / CANCEL_FILE).touch()
    if worker_alive(folder, status.pid):
        os.killpg(status.pid, signal.SIGTERM)
        if not _wait_until_gone(folder, status.pid, timeout_s):
            os.killpg(status.pid, signal.SIGKILL)
            _wait_until_gone(folder, status.pid, timeout_s)
    current = read_status(folder)
    if current.active and not worker_alive(folder, current.pid):
        update_status(folder, state="cancelled", finished_at=time.time())
        remove_stale_partials(settings)
    return observed_status(folder)
