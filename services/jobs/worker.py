"""``python -m services.jobs.worker JOB_DIR``: runs a job's command, turns its progress lines into the job's status.

It runs in a session of its own (the app never waits for it); the command's other output goes to the job's log.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from services.jobs.progress import PROGRESS_ENV, parse
from services.jobs.status import CANCEL_FILE, LOG_FILE, read_status, update_status
from services.registry.runs import remove_stale_partials
from services.settings import PROJECT_ROOT, get_settings

TAIL_LINES = 40
ERROR_LINE = re.compile(r"(?:^|: )error: (.+)$")


def failure_message(lines: Sequence[str], code: int) -> str:
    """The command's own ``error: …`` line, else its last output line (a traceback ends with the exception)."""
    for line in reversed(lines):
        match = ERROR_LINE.search(line)
        if match:
            return match.group(1).strip()
    if lines:
        return f"{lines[-1]} (exit code {code})"
    return f"the command exited with code {code} without any output"


def run(folder: Path) -> int:
    """Run the job in ``folder`` to its end; returns the command's exit code (0 when cancelled before starting)."""
    terminated: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: terminated.append(signum))
    if read_status(folder).state != "starting" or (folder / CANCEL_FILE).exists():
        update_status(folder, state="cancelled", finished_at=time.time())
        return 0
    settings = get_settings()
    remove_stale_partials(settings)
    status = update_status(folder, state="running", pid=os.getpid(), stage="starting")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    result = ""
    with (folder / LOG_FILE).open("a") as log:
        try:
            child = subprocess.Popen(
                status.argv,
                cwd=PROJECT_ROOT,
                env={**os.environ, PROGRESS_ENV: "1", "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            update_status(folder, state="failed", finished_at=time.time(), error=f"could not start the command: {exc}")
            return 1
        assert child.stdout is not None
        for line in child.stdout:
            event = parse(line.rstrip("\n"))
            if event is None:
                log.write(line)
                log.flush()
                if line.strip():
                    tail.append(line.strip())
                continue
            result = event.result or result
            update_status(folder, fraction=event.fraction, stage=event.stage)
        code = child.wait()
    remove_stale_partials(settings)
    now = time.time()
    if terminated or (folder / CANCEL_FILE).exists():
        update_status(folder, state="cancelled", finished_at=now)
    elif code == 0:
        result = result or (tail[-1] if tail else "finished")
        update_status(folder, state="succeeded", fraction=1.0, finished_at=now, result=result)
    else:
        update_status(folder, state="failed", finished_at=now, error=failure_message(list(tail), code))
    return code


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
