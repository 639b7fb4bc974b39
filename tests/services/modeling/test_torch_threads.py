"""One torch thread while serving: lowered inside a block, the calling thread's count restored after it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import torch

from services.modeling.torch_threads import one_torch_thread


@pytest.fixture
def three_threads() -> Iterator[None]:
    """torch set to 3 CPU threads for the test, the former count restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield
    torch.set_num_threads(before)


def test_one_thread_inside_and_the_count_restored_after(three_threads: None) -> None:
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 3


def test_the_count_is_restored_even_when_the_block_raises(three_threads: None) -> None:
    with pytest.raises(RuntimeError), one_torch_thread():
        raise RuntimeError("scoring failed")
    assert torch.get_num_threads() == 3


def test_two_sessions_at_once_each_score_on_one_thread_and_the_server_thread_keeps_its_count(
    three_threads: None,
) -> None:
    both_inside = threading.Barrier(2, timeout=10)
    seen: dict[str, int] = {}

    def session(name: str) -> None:
        with one_torch_thread():
            both_inside.wait()
            seen[name] = torch.get_num_threads()

    sessions = [threading.Thread(target=session, args=(name,)) for name in ("a", "b")]
    for thread in sessions:
        thread.start()
    for thread in sessions:
        thread.join(timeout=10)
    assert seen == {"a": 1, "b": 1}
    assert torch.get_num_threads() == 3
