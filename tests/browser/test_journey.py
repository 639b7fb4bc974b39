"""The inspection journey in a real headless Chromium against the running app.

The app runs as a ``streamlit run`` subprocess on the shared tiny registry (PatchCore and EfficientAd on synthetic
``tile``, indexed into its embedded Qdrant store). The browser uploads a defective image, waits for the heatmap,
clicks a defect on the image, waits for its neighbour thumbnails, visits every page and saves screenshots under
``test-artifacts/browser/``. After one warm-up image it times three more (fresh page each): upload to heatmap and
defect click to neighbours, printed to the terminal (even without ``-s``) and written to ``timings.txt``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from services.settings import PROJECT_ROOT
from tests.pages.conftest import PageRegistry, page_registry  # noqa: F401  (the indexed registry fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "browser"
APP_START_TIMEOUT_S = 180
STEP_TIMEOUT_MS = 180_000
TARGET_S = 2.0
"""The target for upload-to-heatmap and click-to-neighbours with warm models."""
LOOSE_BOUND_S = 5.0
"""What is asserted (medians): a shared 2-core CI machine can be loaded by other tenants, so the 2 s target is
printed beside the figures rather than asserted."""
TIMED_IMAGES = 3
NEIGHBOURS_HEADING = "Nearest anomalous neighbours"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, app: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + APP_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if app.poll() is not None:
            pytest.fail(f"the app exited with {app.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the app did not answer /_stcore/health within {APP_START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def app_url(page_registry: PageRegistry) -> Iterator[str]:  # noqa: F811
    """The app served on a free localhost port by a subprocess, on the indexed fixture registry."""
    from services.similarity.store import close_stores

    close_stores()  # embedded Qdrant allows one process per folder: hand the store over to the app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "ANOMALYLENS_REGISTRY": str(page_registry.registry_dir),
        "ANOMALYLENS_DATA_ROOT": str(page_registry.data_root),
        "ANOMALYLENS_DEVICE": "cpu",
        "TQDM_DISABLE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("ANOMALYLENS_QDRANT_URL", None)
    log = ARTIFACTS / "app.log"
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with log.open("wb") as log_file:
        app = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, app, log)
        yield url
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()


def _defect_images(registry: PageRegistry) -> list[Path]:
    test_dir = registry.dataset_root / "tile" / "test"
    return sorted(path for path in test_dir.glob("*/*.png") if path.parent.name != "good")


def _wait_idle(page: Page) -> None:
    """Until the app has finished its script run (no running indicator, no spinner)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")"
        " && !document.querySelector(\"[data-testid='stSpinner']\")",
        timeout=STEP_TIMEOUT_MS,
    )


def _figure_selector(digest: str) -> str:
    return f"[class*='st-key-defect_figure__'][class*='__{digest[:12]}'] .js-plotly-plot"


def _upload(page: Page, image: Path) -> float:
    """Upload ``image``; the seconds until its heatmap figure is drawn."""
    figure = _figure_selector(hashlib.sha256(image.read_bytes()).hexdigest())
    started = time.perf_counter()
    page.locator(".st-key-inspect_upload input[type=file]").set_input_files(str(image))
    page.wait_for_function(
        f'() => {{ const g = document.querySelector("{figure}"); return g && g._fullLayout && g._fullData; }}',
        timeout=STEP_TIMEOUT_MS,
    )
    return time.perf_counter() - started


def _defect_click_point(page: Page, digest: str) -> list[float] | None:
    """Viewport coordinates of a pixel of the first defect on the figure, or ``None`` when it shows no defect."""
    return page.evaluate(
        """(selector) => {
            const g = document.querySelector(selector);
            const trace = g._fullData.find(t => t.name === 'defect pixels');
            if (!trace || !trace.x || trace.x.length === 0) return null;
            const region = String(trace.customdata[0]);
            const points = [...trace.customdata.keys()].filter(i => String(trace.customdata[i]) === region);
            const i = points[Math.floor(points.length / 2)];
            const box = g.getBoundingClientRect(), layout = g._fullLayout;
            return [box.left + layout.xaxis._offset + layout.xaxis.l2p(trace.x[i]),
                    box.top + layout.yaxis._offset + layout.yaxis.l2p(trace.y[i])];
        }""",
        _figure_selector(digest),
    )


def _lower_threshold_until_a_defect_shows(page: Page, digest: str) -> list[float]:
    """When the figure shows no defect, move the threshold slider to 0 (keyboard) and wait for one; its click point."""
    point = _defect_click_point(page, digest)
    if point is not None:
        return point
    page.locator(".st-key-threshold input[type=range]").focus()
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    trace = "t => t.name === 'defect pixels' && t.x && t.x.length > 0"
    page.wait_for_function(
        f'() => {{ const g = document.querySelector("{_figure_selector(digest)}"); '
        f"return g && g._fullData && g._fullData.some({trace}); }}",
        timeout=STEP_TIMEOUT_MS,
    )
    _wait_idle(page)
    point = _defect_click_point(page, digest)
    assert point is not None, "no defect region shows on the figure even at threshold 0"
    return point


def _click_defect(page: Page, digest: str) -> float:
    """Click a defect on the image; the seconds until its neighbour thumbnails are shown."""
    x, y = _lower_threshold_until_a_defect_shows(page, digest)
    page.mouse.move(x, y)
    started = time.perf_counter()
    page.mouse.click(x, y)
    page.get_by_text(NEIGHBOURS_HEADING).first.wait_for(timeout=STEP_TIMEOUT_MS)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].some(i => i.complete && i.naturalWidth)",
        timeout=STEP_TIMEOUT_MS,
    )
    return time.perf_counter() - started


def _open_inspect(browser: Browser, url: str) -> Page:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)  # Inspect is the default page, served at the root
    page.locator(".st-key-inspect_upload").wait_for(timeout=STEP_TIMEOUT_MS)
    _wait_idle(page)
    return page


def _visit(page: Page, title: str, screenshot: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=STEP_TIMEOUT_MS)
    _wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0, f"{title} shows an exception"
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)


def _inspect_one(browser: Browser, url: str, image: Path, screenshots: bool) -> tuple[float, float]:
    """Upload ``image`` on a fresh Inspect page and click one of its defects: both times, in seconds."""
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    page = _open_inspect(browser, url)
    try:
        upload_s = _upload(page, image)
        _wait_idle(page)
        if screenshots:
            page.screenshot(path=str(ARTIFACTS / "inspect_1_heatmap.png"), full_page=True)
        click_s = _click_defect(page, digest)
        _wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.get_by_text("· sim ").count() >= 1, "the neighbours show their similarity"
        if screenshots:
            page.screenshot(path=str(ARTIFACTS / "inspect_2_neighbours.png"), full_page=True)
            _visit(page, "Compare", "compare.png")
            _visit(page, "Defect library", "library.png")
            _visit(page, "Models", "models.png")
    finally:
        page.close()
    return upload_s, click_s


def test_upload_click_a_defect_see_its_neighbours_and_every_page(
    app_url: str,
    page_registry: PageRegistry,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with scripts/ensure_chromium.sh (make test does)")
    warm_up_image, *images = _defect_images(page_registry)[: 1 + TIMED_IMAGES]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            _inspect_one(browser, app_url, warm_up_image, screenshots=False)
            timings = [_inspect_one(browser, app_url, image, screenshots=i == 0) for i, image in enumerate(images)]
        finally:
            browser.close()
    uploads, clicks = ([pair[k] for pair in timings] for k in (0, 1))
    summary = (
        f"browser journey, warm models, {len(timings)} images: "
        f"upload -> heatmap median {statistics.median(uploads):.2f} s"
        f" (max {max(uploads):.2f}), defect click -> neighbours median {statistics.median(clicks):.2f} s"
        f" (max {max(clicks):.2f}); issue target {TARGET_S:.0f} s, asserted bound {LOOSE_BOUND_S:.0f} s"
    )
    (ARTIFACTS / "timings.txt").write_text(summary + "\n")
    with capsys.disabled():
        print(f"\n{summary}")
    assert statistics.median(uploads) <= LOOSE_BOUND_S
    assert statistics.median(clicks) <= LOOSE_BOUND_S
