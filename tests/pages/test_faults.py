"""Faults the pages survive, on a copy of the fixture registry: a run's checkpoint changed after training, the
registry on a read-only filesystem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.inspect.record_status import LOST
from services.registry.runs import list_runs
from services.registry.writable import NotWritableError
from services.settings import PROJECT_ROOT, get_settings
from tests.pages.conftest import APP_TIMEOUT_S, PageRegistry
from tests.read_only import read_only_argv

pytestmark = pytest.mark.slow


def _defect_image(page_registry: PageRegistry) -> bytes:
    return next((page_registry.dataset_root / "tile" / "test" / "crack").glob("*.png")).read_bytes()


def test_a_run_whose_checkpoint_changed_is_refused_with_the_reason_and_the_other_model_works(
    registry_env: PageRegistry, registry_copy: Path, app: AppTest
) -> None:
    (patchcore,) = [run for run in list_runs(get_settings()) if run.record.model == "patchcore"]
    with patchcore.checkpoint.open("ab") as checkpoint:
        checkpoint.write(b"\0")
    app.run()
    assert not app.exception
    (refusal,) = [error.value for error in app.sidebar.error]
    assert refusal.startswith("Not offered: run ") and "is refused: its model" in refusal
    assert str(patchcore.path.name) in refusal.replace("\\", "")
    assert app.radio(key="model").options == ["EfficientAd"]
    app.file_uploader(key="inspect_upload").set_value([("part.png", _defect_image(registry_env), "image/png")])
    app.run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1
    assert {prediction.model for prediction in app.session_state["_predictions"].values()} == {"efficientad"}
    app.switch_page("pages/compare.py").run()
    assert not app.exception
    ours = next(frame.value for frame in app.dataframe if "Category" in frame.value.columns)
    assert set(ours["Model"]) == {"EfficientAd"}
    assert len(app.sidebar.error) == 1, "every page shows the refusal"


def test_a_read_only_registry_still_inspects_and_every_write_says_why(
    registry_env: PageRegistry, registry_copy: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The copy is mounted read-only for a child process (``tests/read_only.py``); records use the default SQLite
    file under the registry, so they cannot be written either."""
    monkeypatch.delenv("ANOMALYLENS_DATABASE_URL")
    image = tmp_path / "part.png"
    image.write_bytes(_defect_image(registry_env))
    checkpoint = next(registry_copy.glob("*/patchcore/*/*/model.ckpt"))
    session = [sys.executable, "-m", "tests.pages.read_only_session", str(image), str(registry_env.dataset_root)]
    done = subprocess.run(
        read_only_argv(registry_copy, [*session, str(checkpoint)]),
        check=False,
        capture_output=True,
        text=True,
        timeout=APP_TIMEOUT_S,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    page = seen["page"]
    assert page["exceptions"] == []
    assert page["charts"] == 1 and len(page["verdicts"]) == 1, "the upload is scored and judged"

    def refused(action: str, folder: Path) -> str:
        return (
            f"cannot {action}: the folder {folder} is not writable (Read-only file system). Inspecting still works; "
            "make the folder writable, or set ANOMALYLENS_REGISTRY to a writable folder"
        )

    records = registry_copy / "records"
    assert LOST in page["warnings"]
    (why,) = [caption.replace("\\", "") for caption in page["captions"] if caption.startswith("Why: ")]
    assert why.endswith(f"the spool cannot be written either: {refused('spool', records / 'spool')}")
    assert (
        "The image itself could not be kept with its record: "
        f"{refused('keep the inspected images', records / 'images')}"
    ) in [caption.replace("\\", "") for caption in page["captions"]]
    store_refused = refused("open the embedded Qdrant store", registry_copy / "qdrant")
    neighbours = f"Similar defects are unavailable (the heatmap and verdict are not affected): {store_refused}"
    assert neighbours in [warning.replace("\\", "") for warning in page["warnings"]]
    assert seen["writes"] == {
        "training job": "NotWritableError: "
        + refused("start the job 'Train tile (patchcore, demo profile)'", registry_copy / "jobs"),
        "training": "NotWritableError: " + refused("train tile", registry_copy),
        "import": "NotWritableError: " + refused("import model.ckpt", registry_copy / ".imports"),
        "index": f"StoreUnavailableError: {store_refused}",
    }


def test_the_demo_build_on_a_read_only_registry_says_why_it_cannot_start(
    empty_env: Path, app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start itself is refused in the read-only test above; here the page shows that refusal, not an error page."""
    from components.shared import empty_registry

    refusal = NotWritableError("cannot start the job 'Build the demo registry': the folder /m/jobs is not writable")

    def refuse(_settings: object, *, user: object) -> None:
        raise refusal

    monkeypatch.setattr(empty_registry, "start_demo_build", refuse)
    app.run()
    next(button for button in app.button if button.label == "Build the demo registry").click().run()
    assert not app.exception
    assert [error.value.replace("\\", "") for error in app.error] == [str(refusal)]
