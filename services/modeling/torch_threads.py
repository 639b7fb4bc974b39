"""One torch CPU thread while serving: a server scores many sessions' images at once on few cores.

torch's intra-op threads spin at their barriers while they wait for a core; with other sessions, the browser or other
processes busy on the same cores, a small forward split over two threads then waits for each slice in turn, many
times slower than on one thread. A serving process finds its parallelism in concurrent sessions and in OpenVINO's own
threads instead. torch's thread count is process-wide, so it is lowered while at least one block holds it and
restored when the last one leaves (blocks of concurrent sessions overlap).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch


class _SharedThreadCount:
    """The lowered count, held by overlapping blocks; the count to restore when the last one leaves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._restore_to = 0

    def enter(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._restore_to = torch.get_num_threads()
                torch.set_num_threads(1)
            self._holders += 1

    def leave(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                torch.set_num_threads(self._restore_to)


_SHARED = _SharedThreadCount()


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one torch CPU thread; the count before the first of overlapping blocks comes back after the
    last."""
    _SHARED.enter()
    try:
        yield
    finally:
        _SHARED.leave()
