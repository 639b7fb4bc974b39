"""Which runs a watcher uses (the product's newest per model, as the pages) and the refusals that name what exists;
the watch settings' ranges; the command line's one-line errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services.cli.commands import main
from services.settings import Settings, get_settings
from services.watch.inspector import default_runs
from services.watch.ledger import WatchError
from services.watch.watcher import WatchConfig
from tests.fake_runs import record, write_run


@pytest.fixture
def registry(tmp_path: Path) -> Settings:
    """tile (both models, an older PatchCore too) and grid (PatchCore) in ``own``; grid in ``synthetic`` too."""
    root = tmp_path / "models"
    write_run(root, record("tile", created_at="2026-12-01T00:00:00+00:00"))
    write_run(root, replace(record("tile", created_at="2026-12-02T00:00:00+00:00"), run="newer"))
    write_run(root, record("tile", model="efficientad"))
    write_run(root, record("grid"))
    write_run(root, record("grid", dataset="synthetic"))
    return Settings(registry_dir=root, data_root=tmp_path / "data")


def test_every_model_with_a_run_is_used_newest_run_first_in_the_model_tables_order(registry: Settings) -> None:
    runs = default_runs(registry, "tile")
    assert list(runs) == ["patchcore", "efficientad"]
    assert runs["patchcore"].record.run == "newer"
    assert list(default_runs(registry, "tile", ["efficientad"])) == ["efficientad"]


@pytest.mark.parametrize(
    ("category", "models", "dataset", "message"),
    [
        (
            "pcb",
            None,
            None,
            "product 'pcb' has no trained run in the registry {root}; products with runs: grid, tile",
        ),
        ("grid", None, None, "product 'grid' has runs in several datasets (own, synthetic); choose one with --dataset"),
        (
            "grid",
            ["efficientad"],
            "own",
            "product 'grid' has no efficientad run in dataset 'own'; models with a run: patchcore",
        ),
    ],
)
def test_a_product_model_or_dataset_without_a_run_is_refused_naming_what_exists(
    registry: Settings, category: str, models: list[str] | None, dataset: str | None, message: str
) -> None:
    with pytest.raises(WatchError) as caught:
        default_runs(registry, category, models, dataset)
    assert str(caught.value) == message.format(root=registry.registry_dir)


@pytest.mark.parametrize(
    ("quiet", "settle", "message"),
    [
        (0.0, 5.0, "--quiet 0.0 is out of range: give seconds from 0.05 to 60.0"),
        (float("nan"), 5.0, "--quiet nan is out of range: give seconds from 0.05 to 60.0"),
        (2.0, 1.0, "--settle 1.0 is out of range: give seconds from --quiet (2.0) to 3600"),
        (0.5, float("inf"), "--settle inf is out of range: give seconds from --quiet (0.5) to 3600"),
    ],
)
def test_absurd_waiting_times_are_refused_naming_the_option_and_the_range(
    tmp_path: Path, quiet: float, settle: float, message: str
) -> None:
    with pytest.raises(WatchError) as caught:
        WatchConfig(folder=tmp_path, category="tile", quiet_s=quiet, settle_s=settle)
    assert str(caught.value) == message


def test_the_command_refuses_a_missing_folder_or_product_in_one_line(
    registry: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(registry.registry_dir))
    get_settings.cache_clear()
    try:
        assert main(["watch", str(tmp_path / "nowhere"), "--category", "tile"]) == 2
        assert capsys.readouterr().err == (
            f"error: watch folder {tmp_path / 'nowhere'} does not exist: give the folder the camera or PLC writes "
            "images into\n"
        )
        assert main(["watch", str(tmp_path), "--category", "pcb"]) == 2
        assert capsys.readouterr().err.startswith("error: product 'pcb' has no trained run in the registry ")
    finally:
        get_settings.cache_clear()
