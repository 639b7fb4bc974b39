"""Shared fixtures: a network guard and small generated data."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from services.registry.runs import Run
from services.settings import Settings

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
    from services.data.synthetic import SynthConfig, generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("synthetic"), config=SynthConfig.tiny()).root


@dataclass(frozen=True)
class TinyRegistry:
    """Both models trained on the tiny synthetic ``tile`` category into a temporary registry."""

    settings: Settings
    runs: dict[str, Run]  # by model name
    dataset_root: Path


@pytest.fixture(scope="session")
def tiny_registry(tiny_synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyRegistry:
    """Train PatchCore (64 px) and EfficientAd (3 steps) once per session; the pipeline's own code path."""
    from services.data.datasets import open_dataset
    from services.modeling.factory import profile_config
    from services.training.engine import run_benchmark

    root = tmp_path_factory.mktemp("registry")
    settings = Settings(data_root=root / "data", registry_dir=root / "models", weights_dir=root / "models" / "weights")
    configs = {
        "patchcore": replace(profile_config("demo", "patchcore", seed=0), image_size=64, coreset_ratio=0.2),
        "efficientad": replace(profile_config("demo", "efficientad", seed=0), max_steps=3),
    }
    dataset = open_dataset(tiny_synthetic_root, ("tile",))
    runs = run_benchmark(dataset, configs, ("tile",), settings, profile="demo", device="cpu", progress=lambda _: None)
    return TinyRegistry(
        settings=settings, runs={run.record.model: run for run in runs}, dataset_root=tiny_synthetic_root
    )
