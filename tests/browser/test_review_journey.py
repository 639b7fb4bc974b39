"""The review journey of issue #15 in a real headless Chromium: inspect → the record appears on History → marked a
false alarm in the review queue → the PatchCore run's new version scores that image OK; then the Live page with a
folder watcher running.

The app runs as a ``streamlit run`` subprocess on a copy of the indexed tiny registry (the session's registry stays
untouched: the decision writes a run version into the copy). The false alarm is a good test part of the tiny
``tile`` set under other lighting, which the run judges NG (found here before the browser starts). Screenshots of
History, Review and Live go to ``test-artifacts/browser/`` (``history_1_records.png``, ``review_1_decision.png``,
``review_2_learned.png``, ``live_1_watching.png``).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from services.data.images import read_rgb
from services.inference.detector import Detector, Prediction
from services.modeling.model_table import PATCHCORE
from services.postprocessing.verdict import Verdict, judge
from services.records.query import RecordFilter
from services.records.record import InspectionRecord
from services.records.store import RecordStore
from services.registry.runs import Run, list_runs
from services.settings import PROJECT_ROOT, Settings
from services.watch.inspector import WATCH_OPERATOR
from tests.browser import helpers
from tests.pages.conftest import PageRegistry, page_registry  # noqa: F401  (the indexed registry fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIGHTING = (0.55, 0.7, 1.35, 1.6)
"""Brightness factors tried on a good test part until the run judges it NG (as the learning tests find theirs)."""
MARGIN = 0.02
"""How far above its threshold the false alarm scores, so the app's backend (OpenVINO or torch) judges it NG too."""
LEARNING_TIMEOUT_MS = 600_000
"""The decision grows the memory bank, scores the test split again and indexes the version, on shared cores."""
WATCHED = ("P0412_L7.png", "P0413_L7.png", "P0414_L7.png", "P0415_L8.png")
RECORDS_TIMEOUT_S = 300
BADGE = {Verdict.OK: "OK · Normal", Verdict.NG: "NG · Anomalous"}


def judged_verdict(judged: Prediction) -> Verdict:
    """OK or NG at the judged prediction's single threshold (the REVIEW band empty, as by default)."""
    return judge(judged.score, judged.threshold, judged.threshold)


@dataclass(frozen=True)
class Journey:
    """The registry copy the app serves, its PatchCore run, and the good part it judges NG."""

    settings: Settings
    run: Run
    image: Path


def _verdict(run: Run, settings: Settings, image: Path) -> tuple[Verdict, float]:
    """The run's verdict and normalised score on ``image`` at the false-alarm budget, as Inspect judges by default."""
    judged = Detector(run, settings).predict(image).at_budget(run, settings.false_alarm_budget)
    return judged_verdict(judged), judged.score


def _false_alarm(run: Run, settings: Settings, goods: list[Path], folder: Path) -> Path:
    """A good part under other lighting that ``run`` judges NG, written as a PNG into ``folder``."""
    for path in goods:
        for factor in LIGHTING:
            lit = np.clip(read_rgb(path).astype(np.float32) * factor, 0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(lit).save(buffer, format="PNG")
            image = folder / f"good_{path.stem}_lit{factor}.png"
            image.write_bytes(buffer.getvalue())
            judged = Detector(run, settings).predict(image).at_budget(run, settings.false_alarm_budget)
            if judged.score > judged.threshold + MARGIN:
                return image
    pytest.fail("no good test part under other lighting is a false alarm of the tiny PatchCore run")


@pytest.fixture(scope="module")
def journey(page_registry: PageRegistry, tmp_path_factory: pytest.TempPathFactory) -> Journey:  # noqa: F811
    from services.similarity.store import close_stores

    close_stores()  # embedded Qdrant allows one process per folder: the copy is the app's alone
    base = tmp_path_factory.mktemp("review_journey")
    top = str(page_registry.registry_dir)
    shutil.copytree(
        page_registry.registry_dir, base / "models", ignore=lambda folder, _: {"records"} if folder == top else set()
    )
    settings = Settings.from_env(
        {"ANOMALYLENS_REGISTRY": str(base / "models"), "ANOMALYLENS_DATA_ROOT": str(page_registry.data_root)}
    ).with_overrides(device="cpu")
    (run,) = [run for run in list_runs(settings) if run.record.model == PATCHCORE.name]
    goods = sorted((page_registry.dataset_root / "tile" / "test" / "good").glob("*.png"))
    return Journey(settings=settings, run=run, image=_false_alarm(run, settings, goods, base))


def _shows_verdict(page: Page, verdict: Verdict) -> None:
    page.get_by_text(BADGE[verdict]).first.wait_for(timeout=helpers.STEP_TIMEOUT_MS)


def _records(settings: Settings, record_filter: RecordFilter) -> list[InspectionRecord]:
    store = RecordStore(settings)
    try:
        return store.query(record_filter)
    finally:
        store.close()


def _mark_false_alarm(page: Page, image_name: str) -> None:
    """Open the queued record of ``image_name`` and record it as a false alarm."""
    page.locator(".st-key-review_open input").click()
    page.get_by_role("option").filter(has_text=image_name).first.click()
    helpers.wait_idle(page)
    page.get_by_text("False alarm", exact=True).first.click()
    _screenshot_when_drawn(page, "review_1_decision.png", ".js-plotly-plot")
    page.get_by_role("button", name="Record decision").click()
    page.get_by_text(f"Recorded false alarm on {image_name}").first.wait_for(timeout=LEARNING_TIMEOUT_MS)
    helpers.wait_idle(page)


@pytest.fixture
def watcher(journey: Journey, tmp_path: Path) -> Iterator[Path]:
    """``python -m services.cli watch`` on a folder of its own for ``tile`` (PatchCore), stopped with Ctrl+C."""
    inbox = tmp_path / "camera1"
    inbox.mkdir()
    env = {
        **os.environ,
        **journey.settings.to_env(),
        "ANOMALYLENS_STATION": "line-3",
        "ANOMALYLENS_PART_ID_PATTERN": r"(?P<part>P\d+)_(?P<lot>L\d+)",
    }
    command = [sys.executable, "-m", "services.cli", "watch", str(inbox), "--category", "tile"]
    helpers.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (helpers.ARTIFACTS / "review_watch.log").open("wb")
    process = subprocess.Popen(
        [*command, "--models", PATCHCORE.name], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield inbox
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_records(settings: Settings, record_filter: RecordFilter, count: int) -> list[InspectionRecord]:
    """The matching records, newest first, once there are ``count`` (a page records at the end of its script run,
    the watcher a moment after a file is complete)."""
    deadline = time.monotonic() + RECORDS_TIMEOUT_S
    while True:
        found = _records(settings, record_filter)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{len(found)} of {count} records after {RECORDS_TIMEOUT_S} s (see review_*.log)")
        time.sleep(0.5)


def _screenshot_when_drawn(page: Page, name: str, *selectors: str) -> None:
    """Wait for each selector to show, and for the script run to end, then save a full-page screenshot."""
    for selector in selectors:
        page.locator(selector).first.wait_for(timeout=helpers.STEP_TIMEOUT_MS)
    helpers.wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(helpers.ARTIFACTS / name), full_page=True)


def test_a_false_alarm_found_on_history_and_marked_in_review_is_scored_ok_by_the_new_version(
    journey: Journey,
    page_registry: PageRegistry,  # noqa: F811
    watcher: Path,
) -> None:
    helpers.require_chromium()
    image = journey.image
    verdict, alarm_score = _verdict(journey.run, journey.settings, image)
    assert verdict is Verdict.NG
    app = helpers.serve_app(journey.settings.registry_dir, journey.settings.data_root, "review_app.log")
    with app as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(helpers.CHROMIUM), args=helpers.CHROMIUM_ARGS)
        try:
            page = helpers.open_inspect(browser, url)
            helpers.upload(page, image)
            helpers.wait_idle(page)
            _shows_verdict(page, Verdict.NG)
            (record,) = _wait_for_records(journey.settings, RecordFilter(), 1)
            assert (record.image_name, record.model, record.verdict) == (image.name, PATCHCORE.name, Verdict.NG)

            helpers.visit(page, "History")
            page.get_by_text("Showing 1 matching record, newest first.").wait_for(timeout=helpers.STEP_TIMEOUT_MS)

            helpers.visit(page, "Review")
            page.get_by_text("1 record to decide: 0 REVIEW, 1 NG").wait_for(timeout=helpers.STEP_TIMEOUT_MS)
            _mark_false_alarm(page, image.name)
            assert page.get_by_text("Nothing waits for review").count() == 1
            _screenshot_when_drawn(page, "review_2_learned.png", "text=Recent decisions")
            page.close()

            newest = next(run for run in list_runs(journey.settings) if run.record.model == PATCHCORE.name)
            assert newest.path.name == f"{journey.run.path.name}_v2"
            verdict, score = _verdict(newest, journey.settings, image)
            assert verdict is Verdict.OK and score < alarm_score

            page = helpers.open_inspect(browser, url)  # a fresh session: the sidebar's default is the newest version
            helpers.upload(page, image)
            helpers.wait_idle(page)
            _shows_verdict(page, Verdict.OK)
            newest_records = _wait_for_records(journey.settings, RecordFilter(), 2)
            assert newest_records[0].run_id == newest.relative_to(journey.settings.registry_dir)
            assert newest_records[0].verdict is Verdict.OK

            goods = sorted((page_registry.dataset_root / "tile" / "test").glob("*/000.png"))[: len(WATCHED)]
            for source, name in zip(goods, WATCHED, strict=True):
                shutil.copyfile(source, watcher / name)
            _wait_for_records(journey.settings, RecordFilter(operator=WATCH_OPERATOR), len(WATCHED))
            page.locator("[data-testid='stSidebarNav'] a", has_text="Live").first.click()
            page.get_by_text(WATCHED[-1]).first.wait_for(timeout=helpers.STEP_TIMEOUT_MS)
            page.get_by_text(f"{len(WATCHED)} inspected").first.wait_for(timeout=helpers.STEP_TIMEOUT_MS)
            page.wait_for_timeout(1500)
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(helpers.ARTIFACTS / "live_1_watching.png"), full_page=True)

            helpers.visit(page, "History")
            every = page.get_by_text(f"Showing {len(WATCHED) + 2} matching records, newest first.")
            every.wait_for(timeout=helpers.STEP_TIMEOUT_MS)
            _screenshot_when_drawn(page, "history_1_records.png", "[data-testid='stDataFrame']", ".js-plotly-plot")
        finally:
            browser.close()
