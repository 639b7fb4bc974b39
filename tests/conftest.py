"""Shared fixtures: a network guard and small generated data."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class NetworkAccessError(AssertionError):
    """Raised by the guard when code under test reaches outside loopback."""


def _is_local(host: object) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail on any connection or name lookup outside loopback; yields the list of blocked attempts."""
    attempts: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: object) -> object:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):  # type: ignore[index]
            attempts.append(f"connect {address}")
            raise NetworkAccessError(f"network access attempted: connect to {address}")
        return real_connect(sock, address)  # type: ignore[arg-type]

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if not _is_local(host):
            attempts.append(f"resolve {host}")
            raise NetworkAccessError(f"network access attempted: name lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts


@pytest.fixture(scope="session")
def tiny_synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic dataset (64 px, tile, leather and grid, ``SynthConfig.tiny()``), generated once per session."""
    from services.synthetic import SynthConfig, generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synthetic"), config=SynthConfig.tiny()).root
