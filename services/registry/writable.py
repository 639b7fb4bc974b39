"""Writes into the registry when it is on a read-only filesystem (or a folder this process may not write): refused
before they start, naming the folder and why, while inspecting, which only reads, goes on."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from services.settings import PREFIX

NOT_WRITABLE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
"""What a write into a read-only filesystem or a folder without write permission raises (``OSError.errno``)."""


class NotWritableError(ValueError):
    """A write that cannot happen because its folder is read-only; the message names the folder and the action."""


def is_not_writable(exc: OSError) -> bool:
    """Whether ``exc`` says the filesystem or folder refuses writes (rather than, say, a full disk)."""
    return exc.errno in NOT_WRITABLE_ERRNOS


def not_writable(action: str, folder: Path, exc: OSError) -> NotWritableError:
    """The error for ``action`` refused by ``folder``: what, where, why, and what still works."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return NotWritableError(
        f"cannot {action}: the folder {folder} is not writable ({reason}). Inspecting still works; make the folder "
        f"writable, or set {PREFIX}REGISTRY to a writable folder"
    )


def ensure_writable(folder: Path, action: str) -> None:
    """Create ``folder`` (and its parents) and a file in it, removed at once; :class:`NotWritableError` if refused.

    A real write is the reliable probe: ``os.access`` answers for the real user id, and grants root every permission
    bit that a read-only mount or another check may still refuse.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        if not is_not_writable(exc):
            raise
        raise not_writable(action, folder, exc) from exc
