"""Tiny stand-ins for a job's command: progress lines, output, a partial run folder, a sleep, a crash."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from services.jobs.runner import list_jobs
from services.jobs.status import JobStatus
from services.settings import Settings

SCRIPT = """
import os, sys, time
from services.jobs.progress import emit
from services.registry.runs import PARTIAL_MARK
from services.settings import get_settings

sleep_s, crash = float(sys.argv[1]), sys.argv[2] == "crash"
partial = get_settings().registry_dir / "synthetic" / "patchcore" / "tile" / f"r{PARTIAL_MARK}{os.getpid()}"
partial.mkdir(parents=True)
(partial / "metrics.json").write_text("{}")
emit(0.25, f"step one, pid {os.getpid()}")
print("fitting on 4 images", flush=True)
time.sleep(sleep_s)
if crash:
    raise RuntimeError("torch.stack expects each tensor to be equal size")
emit(0.5, "step two", result="fake run written")
"""


def fake_argv(sleep_s: float = 0.0, crash: bool = False) -> list[str]:
    """A command that reports progress, writes a partial run folder, sleeps, then finishes or raises."""
    return [sys.executable, "-c", SCRIPT, str(sleep_s), "crash" if crash else "ok"]


def wait_for(settings: Settings, job_id: str, until: Callable[[JobStatus], bool], timeout_s: float = 60.0) -> JobStatus:
    """Poll the job's status as the app would until ``until`` holds; fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        (job,) = (job for job in list_jobs(settings) if job.id == job_id)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job {job_id} stuck as {job}"
        time.sleep(0.1)


def child_pid(job: JobStatus) -> int:
    """The fake command's pid, which it reports in its first stage."""
    return int(job.stage.rpartition("pid ")[2])


def partial_folders(settings: Settings) -> list[Path]:
    """Partial run folders anywhere in the registry."""
    return sorted(settings.registry_dir.glob("*/*/*/*.partial-*"))
