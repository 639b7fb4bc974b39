"""The jobs the app starts: a training request checked before it starts, the demo build, real commands as jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from services.access import AccessDeniedError, ActingUser, Role, local_user
from services.jobs import commands, runner
from services.registry.runs import list_runs
from services.settings import Settings
from tests.services.jobs.fake_jobs import partial_folders, wait_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_root=tmp_path / "data", registry_dir=tmp_path / "models", weights_dir=tmp_path / "w")


def test_a_request_lists_every_problem_naming_field_and_rule(tmp_path: Path) -> None:
    request = commands.TrainRequest(
        data=tmp_path / "missing", category="a/b", layout="coco", models=("patchcore", "resnet"), profile="fast"
    )
    problems = request.problems()
    assert problems[0] == f"dataset folder {tmp_path / 'missing'} does not exist or is not a folder"
    assert problems[1].startswith("unsafe category name 'a/b'")
    assert problems[2:] == [
        "layout 'coco' is not one of folder, mvtec",
        "unknown model 'resnet'; known: patchcore, efficientad",
        "profile 'fast' is not one of demo, full",
    ]
    assert request.choice_problems() == problems[1:]


def test_a_valid_request_becomes_the_train_command(tmp_path: Path) -> None:
    request = commands.TrainRequest(
        data=tmp_path, category="pcb", layout="folder", models=("patchcore", "efficientad"), profile="demo"
    )
    assert request.problems() == []
    assert request.argv() == [
        sys.executable, "-m", "services.cli", "train", "--data", str(tmp_path), "--category", "pcb",
        "--layout", "folder", "--models", "patchcore", "efficientad", "--profile", "demo",
    ]  # fmt: skip


def test_start_training_refuses_a_bad_request_before_any_job(settings: Settings, tmp_path: Path) -> None:
    request = commands.TrainRequest(data=tmp_path, category="pcb", layout="folder", models=(), profile="demo")
    with pytest.raises(ValueError, match="choose at least one model"):
        commands.start_training(settings, request, user=local_user())
    assert runner.list_jobs(settings) == []


def test_the_demo_build_starts_once_and_is_found_again(settings: Settings) -> None:
    first = commands.start_demo_build(settings, user=local_user())
    assert commands.start_demo_build(settings, user=local_user()).id == first.id
    assert first.argv == [sys.executable, "-m", "services.cli", "demo"] and first.kind == commands.DEMO_KIND
    assert commands.demo_build(settings).id == first.id
    assert runner.cancel_job(settings, first.id, user=local_user()).state == "cancelled"
    assert commands.demo_build(settings).state == "cancelled"


@pytest.mark.slow
def test_the_benchmark_command_as_a_job_lands_one_complete_run(settings: Settings, tiny_synthetic_root: Path) -> None:
    argv = runner.cli_argv(
        "benchmark", "--dataset", "synthetic", "--root", str(tiny_synthetic_root),
        "--models", "efficientad", "--categories", "tile", "--steps", "3", "--teacher", "random", "--device", "cpu",
    )  # fmt: skip
    started = runner.start_job(settings, "benchmark", "Benchmark tile", argv)
    stages: set[str] = set()
    done = wait_for(settings, started.id, lambda job: stages.add(job.stage) or not job.active, timeout_s=600)
    assert done.state == "succeeded", done.error
    assert done.fraction == 1.0 and "efficientad/tile done" in stages
    (run,) = list_runs(settings)
    assert (run.record.model, run.record.category) == ("efficientad", "tile")
    assert partial_folders(settings) == []


def test_demo_background_starts_one_build_and_returns_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from services.cli.commands import main
    from services.settings import get_settings

    monkeypatch.setenv("ANOMALYLENS_REGISTRY", str(tmp_path / "models"))
    monkeypatch.setenv("ANOMALYLENS_DATA_ROOT", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert main(["demo", "--background"]) == 0
        assert main(["demo", "--background"]) == 0
        (job,) = runner.list_jobs(get_settings())
        printed = capsys.readouterr().out.splitlines()
        assert printed == [f"building the demo registry in the background: job {job.id} "
                           f"(status in {tmp_path / 'models' / 'jobs' / job.id})"] * 2  # fmt: skip
        assert job.kind == commands.DEMO_KIND and job.active
        assert runner.cancel_job(get_settings(), job.id, user=local_user()).state == "cancelled"
    finally:
        get_settings.cache_clear()


def test_an_operator_may_not_start_training_the_demo_build_or_cancel_a_job(settings: Settings, tmp_path: Path) -> None:
    operator = ActingUser("olga", Role.OPERATOR, signed_in=True)
    request = commands.TrainRequest(tmp_path, "pcb", "folder", ("patchcore",), "demo")
    with pytest.raises(AccessDeniedError, match=r"^olga \(operator\) may not train or cancel training"):
        commands.start_training(settings, request, user=operator)
    with pytest.raises(AccessDeniedError, match="needs the engineer role"):
        commands.start_demo_build(settings, user=operator)
    assert runner.list_jobs(settings) == []
    job = commands.start_demo_build(settings, user=ActingUser("emil", Role.ENGINEER, signed_in=True))
    with pytest.raises(AccessDeniedError, match="olga"):
        runner.cancel_job(settings, job.id, user=operator)
    assert runner.list_jobs(settings)[0].active
    assert runner.cancel_job(settings, job.id, user=local_user()).state == "cancelled"
