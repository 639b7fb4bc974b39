"""Run a command with one folder mounted read-only, in a private mount namespace (the rest of the machine unaffected).

Root reads and writes through every permission bit, so ``chmod`` cannot make a folder read-only for the tests, which
run as root in CI; a read-only bind mount can (``EROFS``, as on a read-only volume). It needs ``unshare``: as root
(``CAP_SYS_ADMIN``), or in a user namespace where the kernel allows them. Where neither works the test is skipped,
naming why.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

NAMESPACES = (("unshare", "--mount"), ("unshare", "--user", "--map-root-user", "--mount"))


def _mount_script(folder: Path, argv: Sequence[str]) -> str:
    quoted = shlex.quote(str(folder))
    return f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted} && exec {shlex.join(argv)}"


def read_only_argv(folder: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped to run with ``folder`` read-only; skips the test where no mount namespace can be made."""
    reasons = []
    for namespace in NAMESPACES:
        probe = [*namespace, "sh", "-c", _mount_script(folder, ["test", "!", "-w", str(folder)])]
        try:
            done = subprocess.run(probe, check=False, capture_output=True, text=True, timeout=30)
        except OSError as exc:
            reasons.append(f"{shlex.join(namespace)}: {exc}")
            continue
        if done.returncode == 0:
            return [*namespace, "sh", "-c", _mount_script(folder, argv)]
        reasons.append(f"{shlex.join(namespace)}: {done.stderr.strip() or f'exit code {done.returncode}'}")
    pytest.skip(f"cannot mount {folder} read-only for the test ({'; '.join(reasons)})")
