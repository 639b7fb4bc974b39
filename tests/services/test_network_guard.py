"""The network guard used by the offline tests must really block outside traffic."""

import socket

import pytest

from tests.conftest import NetworkAccessError


def test_guard_blocks_remote_connect(no_network: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkAccessError):
        sock.connect(("93.184.216.34", 80))
    assert no_network == ["connect ('93.184.216.34', 80)"]


def test_guard_blocks_name_lookup(no_network: list[str]) -> None:
    with pytest.raises(NetworkAccessError):
        socket.getaddrinfo("huggingface.co", 443)
    assert no_network == ["resolve huggingface.co"]


def test_guard_allows_loopback(no_network: list[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())
    assert no_network == []
