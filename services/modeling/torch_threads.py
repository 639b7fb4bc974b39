"""One torch CPU thread while serving: a server scores many sessions' images at once on few cores.

torch's intra-op threads spin at their barriers while they wait for a core; with other sessions, the browser or other
processes busy on the same cores, a small forward split over two threads then waits for each slice in turn, many
times slower than on one thread. A serving process finds its parallelism in concurrent sessions and in OpenVINO's own
threads instead. With torch's OpenMP backend the count belongs to the calling thread (each Streamlit script run has
its own), so a block lowers its own thread's count and gives it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one torch CPU thread, then restore the calling thread's former count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
