"""The Train page and the first-start page through AppTest: form checks, jobs with progress, cancel, the demo build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.access import local_user
from services.jobs import runner
from services.jobs.commands import DEMO_KIND
from services.jobs.status import JobStatus
from services.settings import get_settings
from tests.services.jobs.fake_jobs import fake_argv, wait_for

TRAIN_PAGE = "pages/train.py"


@pytest.fixture
def running_job(empty_env: Path, request: pytest.FixtureRequest) -> Iterator[JobStatus]:
    """A fake job of the kind the test names (``train`` by default), running at its first stage; cancelled after."""
    kind = getattr(request, "param", "train")
    settings = get_settings()
    started = runner.start_job(settings, kind, f"Fake {kind} job", fake_argv(sleep_s=120.0))
    yield wait_for(settings, started.id, lambda job: job.stage.startswith("step one"))
    runner.cancel_job(settings, started.id, user=local_user())


def _open_train(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page(TRAIN_PAGE).run()


def test_train_page_opens_on_an_empty_registry_and_checks_the_form(empty_env: Path, app: AppTest) -> None:
    _open_train(app)
    assert not app.exception
    assert [title.value for title in app.title] == ["Train"]
    app.text_input(key="train_name").input("a/b")
    app.multiselect(key="train_models").set_value([])
    app.form_submit_button[0].click().run()
    errors = [error.value for error in app.error]
    assert errors[0] == "enter the path of the dataset folder on the server"
    assert errors[1].startswith("unsafe category name 'a/b'")
    assert errors[2] == "choose at least one model"
    assert runner.list_jobs(get_settings()) == []


def test_a_missing_folder_is_named_and_no_job_starts(empty_env: Path, app: AppTest) -> None:
    _open_train(app)
    app.text_input(key="train_folder").input(str(empty_env / "nowhere"))
    app.text_input(key="train_name").input("pcb_connector")
    app.form_submit_button[0].click().run()
    assert [error.value for error in app.error] == [
        f"dataset folder {empty_env / 'nowhere'} does not exist or is not a folder"
    ]
    assert runner.list_jobs(get_settings()) == []


def _start_pcb_training(empty_env: Path, app: AppTest) -> Path:
    """Fill the Train form for a ``pcb_connector`` folder (PatchCore only), submit it; the folder."""
    data = empty_env / "pcb"
    (data / "good").mkdir(parents=True)
    _open_train(app)
    app.text_input(key="train_folder").input(str(data))
    app.text_input(key="train_name").input("pcb_connector")
    app.multiselect(key="train_models").set_value(["patchcore"])
    app.form_submit_button[0].click().run()
    return data


def test_a_valid_form_starts_the_train_command_as_a_job(empty_env: Path, app: AppTest) -> None:
    data = _start_pcb_training(empty_env, app)
    settings = get_settings()
    (job,) = runner.list_jobs(settings)
    runner.cancel_job(settings, job.id, user=local_user())
    assert not app.error
    started = "Started: Train pcb_connector (patchcore, demo profile)"
    assert any(success.value.startswith(started) for success in app.success)
    assert job.argv[3:] == ["train", "--data", str(data), "--category", "pcb_connector", "--layout", "folder",
                            "--models", "patchcore", "--profile", "demo"]  # fmt: skip


def test_a_running_job_shows_stage_progress_eta_and_cancels(running_job: JobStatus, app: AppTest) -> None:
    _open_train(app)
    assert not app.exception
    (bar,) = app.progress
    assert bar.value == 25 and bar.text.startswith("step one")
    assert any(running_job.title in markdown.value and "running" in markdown.value for markdown in app.markdown)
    assert any("ETA" in caption.value for caption in app.caption)
    app.button(key=f"cancel_{running_job.id}").click().run()
    assert runner.list_jobs(get_settings())[0].state == "cancelled"
    assert any(warning.value.startswith("Cancelled after") for warning in app.warning)
    assert not app.progress


@pytest.mark.parametrize("running_job", [DEMO_KIND], indirect=True)
def test_the_first_start_page_shows_the_demo_builds_progress(running_job: JobStatus, app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert any("Building the demo registry in the background" in info.value for info in app.info)
    (bar,) = app.progress
    assert bar.value == 25 and bar.text.startswith("step one")
    assert "python -m services.cli demo" not in [code.value for code in app.code]


def test_a_failed_demo_build_is_shown_with_its_error(empty_env: Path, app: AppTest) -> None:
    settings = get_settings()
    started = runner.start_job(settings, DEMO_KIND, "Build the demo registry", fake_argv(crash=True))
    wait_for(settings, started.id, lambda job: not job.active)
    app.run()
    errors = [error.value for error in app.error]
    assert errors == ["Failed: RuntimeError: torch.stack expects each tensor to be equal size (exit code 1)"]
    assert "python -m services.cli demo" in [code.value for code in app.code]


def test_a_running_training_job_keeps_the_app_off_the_embedded_store(running_job: JobStatus) -> None:
    from components.shared import resources

    with pytest.raises(resources.StoreBusyError) as refused:
        resources.store()
    message = "the defect library is being updated by a training job; neighbours return when it finishes"
    assert str(refused.value) == message


def test_starting_a_job_from_the_train_page_releases_the_apps_store(empty_env: Path, app: AppTest) -> None:
    from qdrant_client import QdrantClient

    from components.shared import resources

    resources.store()  # the app holds the embedded store, as after a neighbour search
    with pytest.raises(RuntimeError):  # held: nobody else may open it
        QdrantClient(path=str(get_settings().qdrant_path))
    _start_pcb_training(empty_env, app)
    settings = get_settings()
    (job,) = runner.list_jobs(settings)
    try:
        QdrantClient(path=str(settings.qdrant_path)).close()  # raises while another client holds the folder's lock
        with pytest.raises(resources.StoreBusyError):
            resources.store()
    finally:
        runner.cancel_job(settings, job.id, user=local_user())
