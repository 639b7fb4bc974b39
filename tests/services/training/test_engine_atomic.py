"""A training run that fails part-way leaves no run folder and no partial folder behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.data.datasets import open_dataset
from services.data.protocol import build_protocol
from services.modeling.factory import profile_config
from services.modeling.model_config import concrete
from services.registry.runs import list_runs, run_dir
from services.settings import Settings
from services.training import engine


def test_a_failed_run_leaves_nothing_in_the_registry(
    tiny_synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "w")
    dataset = open_dataset(tiny_synthetic_root, ("tile",))
    config = concrete(profile_config("demo", "patchcore", seed=0), settings)
    request = engine.RunRequest(dataset=dataset, category="tile", config=config, profile="demo", device="cpu")
    written: list[Path] = []

    def failing_build(*_: object) -> None:
        written.extend(settings.registry_dir.rglob("*.partial-*"))
        raise RuntimeError("out of memory while building")

    monkeypatch.setattr(engine, "build_model", failing_build)
    with pytest.raises(RuntimeError, match="out of memory"):
        engine.train_and_evaluate(request, settings, build_protocol(dataset, "tile", settings, seed=0), lambda _: None)
    final = run_dir(settings, dataset.name, "patchcore", "tile", config.run_name())
    assert [path.name for path in written] == [f"{final.name}.partial-{os.getpid()}"]
    assert not final.exists() and list(final.parent.iterdir()) == []
    assert list_runs(settings) == []
