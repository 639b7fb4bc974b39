"""What the browser journeys share: Chromium, the app served as a ``streamlit run`` subprocess, waiting for a script
run to finish, uploading an image on Inspect, clicking a defect on its figure, visiting a page."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from components.inspect import chart_preload
from services.settings import PROJECT_ROOT

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
NEIGHBOURS_HEADING = "Nearest anomalous neighbours"
IDLE_JS = (
    "() => !document.querySelector(\"[data-testid='stStatusWidget']\")"
    " && !document.querySelector(\"[data-testid='stSpinner']\")"
)
"""True once the app has finished its script run (no running indicator, no spinner)."""
FIGURE_DRAWN_JS = (
    "(selector) => { const g = document.querySelector(selector); return g && g._fullLayout && g._fullData; }"
)
"""True once the Plotly graph under ``selector`` is drawn."""
DEFECT_POINT_JS = """(selector) => {
    const g = document.querySelector(selector);
    const trace = g._fullData.find(t => t.name === 'defect pixels');
    if (!trace || !trace.x || trace.x.length === 0) return null;
    const region = String(trace.customdata[0]);
    const points = [...trace.customdata.keys()].filter(i => String(trace.customdata[i]) === region);
    const i = points[Math.floor(points.length / 2)];
    const box = g.getBoundingClientRect(), layout = g._fullLayout;
    return [box.left + layout.xaxis._offset + layout.xaxis.l2p(trace.x[i]),
            box.top + layout.yaxis._offset + layout.yaxis.l2p(trace.y[i])];
}"""
"""Viewport coordinates of a pixel of the first defect on the figure under ``selector``, or null without one."""
CHART_PRELOAD_SELECTOR = f".st-key-{chart_preload.KEY} .js-plotly-plot"
"""The hidden chart of an Inspect page without uploads (:mod:`components.inspect.chart_preload`)."""
DEFECT_DRAWN_JS = (
    "(selector) => { const g = document.querySelector(selector); return g && g._fullData"
    " && g._fullData.some(t => t.name === 'defect pixels' && t.x && t.x.length > 0); }"
)
"""True once the figure under ``selector`` draws a defect."""
IMAGE_SHOWN_JS = (
    "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].some(i => i.complete && i.naturalWidth)"
)
"""True once an ``st.image`` (a neighbour thumbnail) has loaded."""


def require_chromium() -> None:
    """Skip the test when the Debian Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with scripts/ensure_chromium.sh (make test does)")


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


@dataclass(frozen=True)
class ServedApp:
    """The app's URL and its server process id."""

    url: str
    pid: int


@contextmanager
def serve_app(registry_dir: Path, data_root: Path, log_name: str = "app.log") -> Iterator[str]:
    """The app served on a free localhost port by a subprocess on the given registry (embedded Qdrant); its URL."""
    with served_app(registry_dir, data_root, log_name) as app:
        yield app.url


@contextmanager
def served_app(registry_dir: Path, data_root: Path, log_name: str = "app.log") -> Iterator[ServedApp]:
    """:func:`serve_app`, with the server's process id (for its memory)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = {
        **os.environ,
        "ANOMALYLENS_REGISTRY": str(registry_dir),
        "ANOMALYLENS_DATA_ROOT": str(data_root),
        "ANOMALYLENS_DEVICE": "cpu",
        "TQDM_DISABLE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("ANOMALYLENS_QDRANT_URL", None)
    log = ARTIFACTS / log_name
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with log.open("wb") as log_file:
        app = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, app, log)
        yield ServedApp(url, app.pid)
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()


def wait_idle(page: Page) -> None:
    """Until the app has finished its script run (no running indicator, no spinner)."""
    page.wait_for_timeout(300)
    page.wait_for_function(IDLE_JS, timeout=STEP_TIMEOUT_MS)


def figure_selector(digest: str) -> str:
    """The Plotly graph of the defect figure of the image whose sha256 is ``digest``."""
    return f"[class*='st-key-defect_figure__'][class*='__{digest[:12]}'] .js-plotly-plot"


def upload(page: Page, image: Path) -> float:
    """Upload ``image``; the seconds until its heatmap figure is drawn."""
    figure = figure_selector(hashlib.sha256(image.read_bytes()).hexdigest())
    started = time.perf_counter()
    page.locator(".st-key-inspect_upload input[type=file]").set_input_files(str(image))
    page.wait_for_function(FIGURE_DRAWN_JS, arg=figure, timeout=STEP_TIMEOUT_MS)
    return time.perf_counter() - started


def _defect_click_point(page: Page, digest: str) -> list[float] | None:
    """Viewport coordinates of a pixel of the first defect on the figure, or ``None`` when it shows no defect."""
    return page.evaluate(DEFECT_POINT_JS, figure_selector(digest))


def _lower_threshold_until_a_defect_shows(page: Page, digest: str) -> list[float]:
    """When the figure shows no defect, move the threshold slider to 0 (keyboard) and wait for one; its click point."""
    point = _defect_click_point(page, digest)
    if point is not None:
        return point
    page.locator(".st-key-threshold input[type=range]").focus()
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    page.wait_for_function(DEFECT_DRAWN_JS, arg=figure_selector(digest), timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    point = _defect_click_point(page, digest)
    assert point is not None, "no defect region shows on the figure even at threshold 0"
    return point


def click_defect(page: Page, digest: str) -> float:
    """Click a defect on the image; the seconds until its neighbour thumbnails are shown."""
    x, y = _lower_threshold_until_a_defect_shows(page, digest)
    page.mouse.move(x, y)
    started = time.perf_counter()
    page.mouse.click(x, y)
    page.get_by_text(NEIGHBOURS_HEADING).first.wait_for(timeout=STEP_TIMEOUT_MS)
    page.wait_for_function(IMAGE_SHOWN_JS, timeout=STEP_TIMEOUT_MS)
    return time.perf_counter() - started


def wait_inspect_ready(page: Page) -> None:
    """Until a fresh Inspect page is ready for an upload, as a user finds it while picking a file: its script run
    finished and its hidden chart drawn (the browser has loaded its chart code)."""
    page.locator(".st-key-inspect_upload").wait_for(timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    page.wait_for_function(FIGURE_DRAWN_JS, arg=CHART_PRELOAD_SELECTOR, timeout=STEP_TIMEOUT_MS)


def open_inspect(browser: Browser, url: str) -> Page:
    """A fresh page on Inspect (the default page), ready for an upload."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    wait_inspect_ready(page)
    return page


def visit(page: Page, title: str, screenshot: str | None = None) -> None:
    """Open the page ``title`` from the navigation, check it shows no exception, and optionally screenshot it."""
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=STEP_TIMEOUT_MS)
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0, f"{title} shows an exception"
    if screenshot:
        page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
