"""``python -m services.cli watch`` as an operator runs it: a line per file as it arrives, Ctrl+C stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.settings import PROJECT_ROOT, Settings
from tests.services.watch.test_watcher import image_bytes

STARTUP_S = 600  # imports torch and loads the run (OpenVINO export on first use): minutes on a busy 2-core machine


def _read_until(process: subprocess.Popen[str], prefix: str, seen: list[str]) -> str:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            break
        seen.append(line.rstrip("\n"))
        if line.startswith(prefix):
            return line.rstrip("\n")
    raise AssertionError(f"no line starting {prefix!r}; printed: {seen}")


def test_the_command_prints_a_line_per_arriving_file_and_stops_cleanly_on_ctrl_c(
    watch_settings: Settings, inbox: Path
) -> None:
    environment = {
        **os.environ,
        **watch_settings.to_env(),
        "ANOMALYLENS_DEVICE": "cpu",
        "PYTHONWARNINGS": "ignore",
    }
    command = [sys.executable, "-m", "services.cli", "watch", str(inbox), "--category", "tile", "--models", "patchcore"]
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    seen: list[str] = []
    try:
        assert _read_until(process, "watching ", seen).endswith(
            "station line-3; 0 file(s) already handled; stop with Ctrl+C"
        )
        (inbox / "P7_L2.png").write_bytes(image_bytes(7))
        line = _read_until(process, "P7_L2.png  patchcore ", seen)
        assert line.endswith(" ms")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert process.stdout is not None
        assert process.stdout.read().splitlines() == ["stopped: 1 inspected, 0 rejected, 0 not complete yet"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
