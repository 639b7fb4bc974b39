"""A new user's own products in a real headless Chromium: a dataset .zip uploaded on the Train page, the background
job followed on its card until the run is complete, then the product inspected.

The app runs as a ``streamlit run`` subprocess on an empty registry of its own. ``pcb_connector`` (non-square,
mixed-size JPEGs; ``solder_bridge`` with masks, ``missing_pin`` without) is trained with PatchCore's demo profile,
an upload's defect is clicked and its neighbours carry the user's defect type names; ``bare_board`` (normal images
only) is trained the same way and Inspect gives a verdict for an upload. Screenshots go to
``test-artifacts/browser/train_*.png``; each job's duration is printed and written to ``train_timings.txt``.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from services.jobs.runner import list_jobs
from services.settings import Settings
from tests.browser.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    NEIGHBOURS_HEADING,
    STEP_TIMEOUT_MS,
    VIEWPORT,
    click_defect,
    require_chromium,
    serve_app,
    upload,
    visit,
    wait_idle,
)
from tests.services.cli.test_train import _product

pytestmark = [pytest.mark.browser, pytest.mark.slow]

JOB_TIMEOUT_MS = 600_000
"""A demo-profile PatchCore job on a dozen tiny images, on a shared 2-core machine."""
USER_DEFECTS = ("solder_bridge", "missing_pin")


@pytest.fixture(scope="module")
def own_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """The app on an empty registry of its own, and the settings that point at it."""
    base = tmp_path_factory.mktemp("train_journey")
    settings = Settings.from_env({"ANOMALYLENS_REGISTRY": str(base / "models"), "ANOMALYLENS_DATA_ROOT": str(base)})
    with serve_app(settings.registry_dir, settings.data_root, "train_app.log") as url:
        yield url, settings


def _zip(folder: Path) -> Path:
    """The folder zipped as a user would: every file under one top folder named after it."""
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                handle.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return archive


def _start_training(page: Page, url: str, archive: Path, name: str) -> None:
    """Upload ``archive`` on the Train page as product ``name``, PatchCore only, demo profile, and start."""
    page.goto(f"{url}/train")
    page.get_by_role("heading", name="Train").first.wait_for(timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    page.get_by_text("Upload a .zip of the images").click()
    wait_idle(page)
    page.locator(".st-key-train_zip input[type=file]").set_input_files(str(archive))
    page.locator(".st-key-train_name input").fill(name)
    models = page.locator(".st-key-train_models")
    models.get_by_role("button", name="Remove EfficientAd").click()  # both models are chosen by default
    assert [tag.strip() for tag in models.locator("[data-tag]").all_inner_texts()] == ["PatchCore"]
    assert page.locator(".st-key-train_profile input").input_value() == "demo"
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(f"Started: Train {name} (patchcore, demo profile)").wait_for(timeout=STEP_TIMEOUT_MS)


def _wait_for_the_job(page: Page, name: str, screenshot: str) -> None:
    """Screenshot the card while the model trains, then wait until the job has finished (a failure fails the test)."""
    title = f"Train {name} (patchcore, demo profile)"
    page.get_by_text(f"training PatchCore on {name} (1 of 1)").first.wait_for(timeout=STEP_TIMEOUT_MS)
    page.locator("[data-testid='stProgress']").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    page.wait_for_function(
        "(title) => [...document.querySelectorAll(\"[data-testid='stMarkdownContainer']\")].some(e => "
        "e.innerText.startsWith(title) && (e.innerText.endsWith('finished') || e.innerText.endsWith('failed')))",
        arg=title,
        timeout=JOB_TIMEOUT_MS,
    )
    wait_idle(page)
    assert page.get_by_text(f"{title} · finished").count() == 1, page.locator("[data-testid='stMain']").inner_text()


def _job_seconds(settings: Settings, name: str) -> float:
    (job,) = [job for job in list_jobs(settings) if job.details.get("category") == name]
    assert job.state == "succeeded", job.error
    return job.finished_at - job.started_at


def _inspect(browser: Browser, url: str, category: str, image: Path) -> Page:
    """Inspect with ``category`` chosen in the sidebar and ``image`` uploaded, its heatmap drawn."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.locator(".st-key-inspect_upload").wait_for(timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    selectbox = page.locator(".st-key-category input")
    if selectbox.input_value() != category:
        selectbox.click()
        page.get_by_role("option", name=category).click()
        wait_idle(page)
    assert selectbox.input_value() == category
    upload(page, image)
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    return page


def test_train_an_own_product_and_a_good_only_one_from_a_zip_then_inspect(
    own_app: tuple[str, Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_chromium()
    url, settings = own_app
    pcb = _product(tmp_path / "pcb_connector", defects=True)
    bare = _product(tmp_path / "bare_board", defects=False)
    defect_image = pcb / "solder_bridge" / "d20.jpg"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            _start_training(page, url, _zip(pcb), "pcb_connector")
            _wait_for_the_job(page, "pcb_connector", "train_1_in_progress.png")
            page.screenshot(path=str(ARTIFACTS / "train_2_finished.png"), full_page=True)
            page.close()

            page = _inspect(browser, url, "pcb_connector", defect_image)
            page.screenshot(path=str(ARTIFACTS / "train_3_inspect_heatmap.png"), full_page=True)
            click_defect(page, hashlib.sha256(defect_image.read_bytes()).hexdigest())
            wait_idle(page)
            heading = "[data-testid='stMarkdownContainer']"
            neighbours = page.locator(heading, has_text=NEIGHBOURS_HEADING).last
            vote = neighbours.inner_text()
            assert any(name in vote for name in USER_DEFECTS), vote
            assert page.get_by_text("solder_bridge").count() >= 1
            neighbours.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "train_4_inspect_neighbours.png"), full_page=True)
            visit(page, "Compare", "train_5_compare.png")
            page.close()

            page = browser.new_page(viewport=VIEWPORT)
            _start_training(page, url, _zip(bare), "bare_board")
            _wait_for_the_job(page, "bare_board", "train_6_good_only_in_progress.png")
            page.close()

            page = _inspect(browser, url, "bare_board", bare / "good" / "n03.jpg")
            assert page.get_by_text("Verdict").count() >= 1
            page.screenshot(path=str(ARTIFACTS / "train_7_good_only_inspect.png"), full_page=True)
            page.close()
        finally:
            browser.close()
    durations = {name: _job_seconds(settings, name) for name in ("pcb_connector", "bare_board")}
    summary = "train journey, PatchCore demo profile, job start to end: " + ", ".join(
        f"{name} {seconds:.0f} s" for name, seconds in durations.items()
    )
    (ARTIFACTS / "train_timings.txt").write_text(summary + "\n")
    with capsys.disabled():
        print(f"\n{summary}")
