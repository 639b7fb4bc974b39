"""Background jobs: a worker process per job, progress on disk, finish, cancel, crash and reload."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from services.access import local_user
from services.jobs import runner
from services.jobs.status import LOG_FILE, STATUS_FILE, read_status, worker_alive
from services.jobs.worker import failure_message
from services.registry.runs import list_runs
from services.settings import Settings
from tests.services.jobs.fake_jobs import child_pid, fake_argv, partial_folders, wait_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "w")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"


def test_a_job_runs_in_its_own_session_reports_progress_and_finishes(settings: Settings) -> None:
    started = runner.start_job(settings, "fake", "Fake job", fake_argv(sleep_s=1.0))
    assert started.state in ("starting", "running") and started.pid > 0
    assert os.getsid(started.pid) == started.pid  # its own session: a server restart does not end it
    running = wait_for(settings, started.id, lambda job: job.stage.startswith("step one"))
    assert (running.state, running.fraction) == ("running", 0.25)
    assert running.eta_s(running.started_at + 10.0) == pytest.approx(30.0)  # 10 s for a quarter: 30 s to go
    done = wait_for(settings, started.id, lambda job: not job.active)
    assert (done.state, done.fraction, done.result, done.error) == ("succeeded", 1.0, "fake run written", "")
    assert done.finished_at >= done.started_at and done.eta_s(time.time()) is None
    log = (runner.jobs_root(settings) / started.id / LOG_FILE).read_text()
    assert "fitting on 4 images" in log and "PROGRESS" not in log


def test_the_state_is_read_back_from_disk_by_a_fresh_reader(settings: Settings) -> None:
    started = runner.start_job(settings, "fake", "Fake job", fake_argv(), details={"category": "pcb"})
    done = wait_for(settings, started.id, lambda job: not job.active)
    reloaded = Settings(data_root=settings.data_root, registry_dir=settings.registry_dir, weights_dir=Path("/none"))
    (again,) = runner.list_jobs(reloaded)
    assert again == done == read_status(runner.jobs_root(settings) / started.id)
    assert again.details == {"category": "pcb"} and again.argv == fake_argv()


def test_cancel_ends_the_whole_process_group_and_removes_the_partial_run(settings: Settings) -> None:
    started = runner.start_job(settings, "fake", "Fake job", fake_argv(sleep_s=60.0))
    running = wait_for(settings, started.id, lambda job: job.stage.startswith("step one"))
    command = child_pid(running)
    assert len(partial_folders(settings)) == 1 and list_runs(settings) == []
    cancelled = runner.cancel_job(settings, started.id, user=local_user())
    assert cancelled.state == "cancelled" and cancelled.error == ""
    assert not _alive(command) and not _alive(started.pid)
    assert partial_folders(settings) == []
    again = runner.cancel_job(settings, started.id, user=local_user())
    assert again.state == "cancelled"  # cancelling twice changes nothing


def test_a_crashing_command_fails_with_its_last_line_not_a_traceback(settings: Settings) -> None:
    started = runner.start_job(settings, "fake", "Fake job", fake_argv(crash=True))
    failed = wait_for(settings, started.id, lambda job: not job.active)
    assert failed.state == "failed"
    assert failed.error == "RuntimeError: torch.stack expects each tensor to be equal size (exit code 1)"
    assert partial_folders(settings) == []


def test_a_worker_killed_without_finishing_reads_as_failed_not_running(settings: Settings) -> None:
    started = runner.start_job(settings, "fake", "Fake job", fake_argv(sleep_s=60.0))
    wait_for(settings, started.id, lambda job: job.stage.startswith("step one"))
    os.killpg(started.pid, signal.SIGKILL)  # as an out-of-memory kill or a reboot would: nobody writes the status
    folder = runner.jobs_root(settings) / started.id
    job = wait_for(settings, started.id, lambda job: not job.active, timeout_s=10)
    assert read_status(folder).state == "running"
    assert job.state == "failed" and f"worker process ({started.pid})" in job.error
    assert not worker_alive(folder, started.pid)


def test_a_missing_program_fails_with_the_reason(settings: Settings) -> None:
    started = runner.start_job(settings, "fake", "Fake job", ["/nonexistent/python", "-V"])
    failed = wait_for(settings, started.id, lambda job: not job.active)
    assert failed.state == "failed" and "could not start the command" in failed.error
    assert "/nonexistent/python" in failed.error


def test_an_exclusive_job_runs_once_at_a_time(settings: Settings) -> None:
    first = runner.start_exclusive(settings, "demo", "Build the demo", fake_argv(sleep_s=60.0))
    second = runner.start_exclusive(settings, "demo", "Build the demo", fake_argv(sleep_s=60.0))
    other = runner.start_exclusive(settings, "train", "Train", fake_argv())
    assert second.id == first.id and other.id != first.id
    runner.cancel_job(settings, first.id, user=local_user())
    third = runner.start_exclusive(settings, "demo", "Build the demo", fake_argv())
    assert third.id != first.id
    wait_for(settings, third.id, lambda job: not job.active)
    wait_for(settings, other.id, lambda job: not job.active)
    assert [job.id for job in runner.list_jobs(settings, "demo")] == [third.id, first.id]


def test_unknown_or_malformed_job_ids_are_refused(settings: Settings) -> None:
    with pytest.raises(runner.JobError, match="no job"):
        runner.cancel_job(settings, "../../etc", user=local_user())
    with pytest.raises(runner.JobError, match="no job"):
        runner.job_dir(settings, "20260101-000000-train-abcdef")
    assert not (runner.jobs_root(settings) / "x" / STATUS_FILE).exists()


@pytest.mark.parametrize(
    ("lines", "code", "message"),
    [
        (["training", "error: unknown category 'pcb'"], 2, "unknown category 'pcb'"),
        (
            ["usage: ...", "python -m services.cli: error: argument command: invalid choice: 'train'"],
            2,
            "argument command: invalid choice: 'train'",
        ),
        (["Traceback (most recent call last):", "ValueError: bad"], 1, "ValueError: bad (exit code 1)"),
        ([], -9, "the command exited with code -9 without any output"),
    ],
)
def test_failure_message_is_the_commands_own_line(lines: list[str], code: int, message: str) -> None:
    assert failure_message(lines, code) == message
