"""Load on the dashboard: N concurrent real browser sessions against one server, each uploading M images on its
Inspect page and clicking a defect; errors, upload→verdict and click→neighbours percentiles, the server's RSS.

Usage::

    TQDM_DISABLE=1 HF_HUB_OFFLINE=1 python benchmarks/load_dashboard.py --sessions 8 --uploads 50 \\
        [--registry models/] [--data-root data/] [--url http://host:8501] [--build-sample] [--single 10] \\
        [--think 10] [--fresh-page] [--chromium /usr/bin/chromium-headless-shell]

* Server: the app on a free localhost port, on CPU, started by the script as the browser tests start it
  (``tests/browser/helpers.py``) on ``--registry`` and ``--data-root`` (the settings' folders by default; records go
  to the registry's SQLite database), or the one at ``--url`` (then RSS is not sampled unless ``--server-pid`` names
  its process). ``--build-sample`` first builds a registry like the demo's on one product
  (:func:`services.cli.demo.build_demo_sample`) where ``--registry`` holds no run.
* Browser: one headless Debian Chromium (as ``tests/browser`` drives it), one Playwright context per session. A
  session opens Inspect (a new Streamlit session), waits until it is ready as a user finds it while picking a file
  (script run done, its hidden chart drawn), uploads a defective test image of the registry's first product and waits
  until its heatmap figure is drawn and its verdict shown (upload→verdict); then clicks a pixel of the first defect
  drawn and waits for the neighbour thumbnails (click→neighbours); then removes the file from the uploader, as an
  inspector does, and uploads the next on the same page. With ``--fresh-page`` every upload opens a fresh page
  instead (a fresh page costs the browser several CPU seconds — Streamlit's and Plotly's code parsed again — on the
  cores the server shares). Where the figure draws no defect at the calibrated threshold, the threshold slider is
  moved to 0 first, as ``tests/browser`` does (counted apart, not timed). A click that selects nothing (the page
  idle and no neighbours after 15 s) is made again, as a user would; those are counted and their wait is timed. The
  sidebar keeps its defaults, as a new user finds them. ``--chromium`` drives another Chromium binary, e.g.
  Debian's ``chromium-headless-shell`` (the kind of headless browser Playwright uses by default, lighter on the
  cores the server shares).
* Every upload is a new file: a copy of a test image with a PNG text chunk naming the upload, so its sha256 is new
  and no prediction cached in the session is reused, while its pixels (and the work they cost) are the image's.
* Warm models: one untimed upload and click first. Then ``--single`` uploads by one session alone, each on a fresh
  page (the single-session median: a new user's first upload), then the ``--sessions`` × ``--uploads`` run, sessions
  started together. ``--think T`` makes each inspector pause after each part (verdict read, defect clicked) for a
  time drawn uniformly between T/2 and 3T/2 (seeded per session), as people do, and once before the first, so they do
  not all start in the same second; without it every session uploads its next part at once, which keeps the two
  cores saturated, so its latencies are those of a queue and not of a shop floor.
* Errors: a step past its timeout, an exception or error box on the page, or a failed navigation; each is counted,
  the first few are printed (with what was waited for) and kept as screenshots under ``test-artifacts/browser/``, and
  the session goes on from a fresh page.
* RSS: the server process and all its children (psutil), sampled every ``--rss-interval`` seconds during the
  concurrent run, printed against the number of uploads done; and the CPU seconds the server and the browsers (with
  this script) used over that run, to show who used the cores.

The machine is shared by the browsers and the server: on 2 cores the browsers' own work is part of every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psutil
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from services.settings import Settings  # noqa: E402
from tests.browser.helpers import (  # noqa: E402
    ARTIFACTS,
    CHART_PRELOAD_SELECTOR,
    CHROMIUM,
    CHROMIUM_ARGS,
    DEFECT_DRAWN_JS,
    DEFECT_POINT_JS,
    FIGURE_DRAWN_JS,
    IDLE_JS,
    IMAGE_SHOWN_JS,
    VIEWPORT,
    figure_selector,
    served_app,
)

LOAD_CHROMIUM_ARGS = [
    *CHROMIUM_ARGS,
    "--num-raster-threads=1",
    "--disable-threaded-animation",
    "--disable-threaded-scrolling",
    "--disable-checker-imaging",
]
"""The browser tests' flags, and fewer browser threads contending for the cores the server shares (docs/results.md
gives what they save); the pages draw the same."""
STEP_TIMEOUT_MS = 120_000
CLICK_WAIT_MS = 15_000
"""How long an inspector waits on an idle page for a click's neighbours before clicking the defect again."""
CLICK_ATTEMPTS = 3
"""Clicks on a defect before the step counts as an error."""
POLL_MS = 50
"""How often a waited-for condition is checked: every animation frame (Playwright's default) would keep each page
busy on the cores the server shares."""
VERDICT_JS = (
    "() => [...document.querySelectorAll(\"[data-testid='stMarkdownContainer']\")]"
    ".some(e => e.innerText.startsWith('Verdict'))"
)
"""True once a verdict badge is shown."""
ERROR_JS = (
    "() => document.querySelectorAll(\"[data-testid='stException'], [data-testid='stAlertContentError']\").length"
)
ERRORS_SHOWN = 5


@dataclass
class Tally:
    """What one phase measured."""

    uploads: list[float] = field(default_factory=list)
    clicks: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lowered: int = 0
    clicks_repeated: int = 0
    """Clicks that selected nothing (the page idle, no neighbours after ``CLICK_WAIT_MS``) and were made again."""
    """Uploads whose figure drew no defect at the calibrated threshold: the slider was moved to 0 first."""
    done: int = 0


@dataclass(frozen=True)
class RssSample:
    """The server's resident memory (itself and its children) at one moment."""

    seconds: float
    uploads_done: int
    rss_mb: float


def _defect_images(settings: Settings) -> list[Path]:
    """The defective test images of the registry's first product (the sidebar's default category)."""
    from services.registry.artefacts import scored_samples
    from services.registry.runs import latest_runs, sorted_categories

    latest = latest_runs(settings)
    if not latest:
        raise SystemExit(f"{settings.registry_dir} holds no run: build one (make run, or --build-sample)")
    dataset = sorted({dataset for dataset, _, _ in latest})[0]
    category = sorted_categories(category for name, _, category in latest if name == dataset)[0]
    run = next(run for (name, _, cat), run in latest.items() if (name, cat) == (dataset, category))
    images = [sample.path for sample in scored_samples(run, settings) if sample.defect_type != "good"]
    if not images:
        raise SystemExit(f"run {run.path} has no defective test image to upload")
    return images


def _tree_sum(root: psutil.Process, measure: Callable[[psutil.Process], float]) -> float:
    """``measure`` summed over a process and all its descendants (one that ends meanwhile counts nothing)."""
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += measure(process)
        except psutil.NoSuchProcess:
            continue
    return total


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by a process and all its descendants, those already ended and reaped included."""
    return _tree_sum(psutil.Process(pid), _cpu)


class RssSampler:
    """Samples the RSS of a process and its children in a thread, tagged with the uploads done so far."""

    def __init__(self, pid: int, interval_s: float, tally: Tally) -> None:
        self.process = psutil.Process(pid)
        self.interval_s = interval_s
        self.tally = tally
        self.samples: list[RssSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.perf_counter()

    def rss_mb(self) -> float:
        """The current RSS of the process and its children, in MB."""
        return _tree_sum(self.process, lambda process: process.memory_info().rss) / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        """Take one sample now."""
        self.samples.append(RssSample(time.perf_counter() - self._started, self.tally.done, self.rss_mb()))

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class StepTimeoutError(Exception):
    """A condition of a step did not hold within ``STEP_TIMEOUT_MS``; the message names it."""


async def _until(page: Page, what: str, condition: str, arg: object = None, timeout_ms: int = STEP_TIMEOUT_MS) -> None:
    """Wait until the JavaScript ``condition`` holds on ``page``; a timeout names ``what`` was waited for."""
    try:
        await page.wait_for_function(condition, arg=arg, timeout=timeout_ms, polling=POLL_MS)
    except PlaywrightTimeoutError as exc:
        raise StepTimeoutError(f"no {what} within {timeout_ms // 1000} s") from exc


async def _defect_point(page: Page, digest: str, tally: Tally) -> list[float]:
    """A pixel of the first defect drawn; where none is drawn at the calibrated threshold, the threshold slider is
    moved to 0 first (keyboard, as ``tests/browser`` does) and counted."""
    selector = figure_selector(digest)
    point = await page.evaluate(DEFECT_POINT_JS, selector)
    if point is not None:
        return point
    tally.lowered += 1
    await page.locator(".st-key-threshold input[type=range]").focus()
    await page.keyboard.press("Home")
    await page.keyboard.press("Tab")
    await _until(page, "defect drawn at threshold 0", DEFECT_DRAWN_JS, selector)
    await _idle(page)
    return await page.evaluate(DEFECT_POINT_JS, selector)


async def _idle(page: Page) -> None:
    await page.wait_for_timeout(300)
    await _until(page, "end of the script run", IDLE_JS)


async def _click_defect(page: Page, digest: str, tally: Tally) -> float:
    """Click a defect; seconds from the first click until a neighbour thumbnail shows. A click that selected nothing
    (the page idle and no neighbours after ``CLICK_WAIT_MS``) is made again, as a user would, and counted."""
    x, y = await _defect_point(page, digest, tally)
    await page.mouse.move(x, y)
    started = time.perf_counter()
    for attempt in range(1, CLICK_ATTEMPTS + 1):
        await page.mouse.click(x, y)
        try:
            await _until(page, "neighbour thumbnail after the click", IMAGE_SHOWN_JS, timeout_ms=CLICK_WAIT_MS)
            return time.perf_counter() - started
        except StepTimeoutError:
            if attempt == CLICK_ATTEMPTS or not await page.evaluate(IDLE_JS):
                break
            tally.clicks_repeated += 1
    await _until(page, "neighbour thumbnail after the click", IMAGE_SHOWN_JS)
    return time.perf_counter() - started


async def _open_inspect(page: Page, url: str) -> None:
    """A new Streamlit session on Inspect, ready as a user finds it while picking a file."""
    await page.goto(f"{url}/inspect", timeout=STEP_TIMEOUT_MS)
    await page.locator(".st-key-inspect_upload").wait_for(timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    await _until(page, "hidden chart of the empty page", FIGURE_DRAWN_JS, CHART_PRELOAD_SELECTOR)


async def _inspect(page: Page, image: Path, tally: Tally, click: bool) -> None:
    """Upload ``image``, wait for its verdict, click a defect and wait for its neighbours, timing both."""
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    started = time.perf_counter()
    await page.locator(".st-key-inspect_upload input[type=file]").set_input_files(str(image))
    await _until(page, "figure of the upload", FIGURE_DRAWN_JS, figure_selector(digest))
    await _until(page, "verdict of the upload", VERDICT_JS)
    tally.uploads.append(time.perf_counter() - started)
    await _idle(page)
    if click:
        tally.clicks.append(await _click_defect(page, digest, tally))
    if await page.evaluate(ERROR_JS):
        tally.errors.append(f"{image.name}: the page shows an error")


async def _remove(page: Page, image: Path) -> None:
    """Take the previous file out of the uploader (its chip's remove button), as an inspector does before the next."""
    await page.get_by_role("button", name=f"Remove {image.name}").click(timeout=STEP_TIMEOUT_MS)
    await _until(page, "empty page after removing the file", FIGURE_DRAWN_JS, CHART_PRELOAD_SELECTOR)
    await _idle(page)


async def _session(
    browser: Browser,
    url: str,
    images: list[Path],
    *,
    tally: Tally,
    click: bool = True,
    fresh_page: bool = False,
    think: Callable[[], float] = lambda: 0.0,
) -> None:
    """One browser context uploading ``images`` in turn: on one Inspect page kept open (the previous file removed
    before each upload), or on a fresh page each (``fresh_page``), pausing ``think()`` seconds after each verdict and
    click (and before its first part: inspectors do not all start in the same second); a failed step is counted, the
    page is kept as a screenshot for the first few, and the session goes on from a fresh page."""
    context = await browser.new_context(viewport=VIEWPORT)
    page: Page | None = None
    previous: Path | None = None
    await asyncio.sleep(think())
    try:
        for image in images:
            step = "opening Inspect"
            try:
                if page is None or fresh_page:
                    if page is not None:
                        await page.close()
                    page, previous = await context.new_page(), None
                    await _open_inspect(page, url)
                if previous is not None:
                    step = "removing the previous file"
                    await _remove(page, previous)
                step = "uploading and clicking a defect"
                await _inspect(page, image, tally, click)
                previous = image
                await asyncio.sleep(think())
            except Exception as exc:  # every failure of a step is an error of the run, counted and named
                tally.errors.append(f"{image.name}, {step}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                if page is not None:
                    if len(tally.errors) <= ERRORS_SHOWN:
                        ARTIFACTS.mkdir(parents=True, exist_ok=True)
                        with contextlib.suppress(PlaywrightError):  # a page too broken to picture
                            await page.screenshot(path=ARTIFACTS / f"load_error_{image.stem}.png", full_page=True)
                    await page.close()
                page = None
            finally:
                tally.done += 1
    finally:
        await context.close()


def _uploads(images: list[Path], folder: Path, count: int, start: int, tag: str) -> list[Path]:
    """``count`` files to upload, taking ``images`` in turn from ``start``: each a copy with a PNG text chunk naming
    the upload, so its bytes (and sha256) are new and no session reuses a prediction, while its pixels are the same."""
    files = []
    for i in range(count):
        source = images[(start + i) % len(images)]
        label = PngInfo()
        label.add_text("anomalylens-load", f"{tag} {i}")
        target = folder / f"{source.stem}_{tag}_{i:03d}.png"
        with Image.open(source) as image:
            image.save(target, pnginfo=label)
        files.append(target)
    return files


def _percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in (0, 1]) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def _summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    return (
        f"{label}: n {len(values)}, p50 {statistics.median(values):.2f} s, p95 {_percentile(values, 0.95):.2f} s, "
        f"max {max(values):.2f} s"
    )


def _print_tally(title: str, tally: Tally) -> None:
    print(f"\n{title}")
    print(f"  errors: {len(tally.errors)} of {tally.done} uploads")
    for error in tally.errors[:ERRORS_SHOWN]:
        print(f"    {error}")
    print(f"  {_summary('upload -> verdict', tally.uploads)}")
    print(f"  {_summary('click -> neighbours', tally.clicks)}")
    if tally.lowered:
        print(f"  threshold moved to 0 before the click (no defect drawn at the calibrated one): {tally.lowered}")
    if tally.clicks_repeated:
        print(f"  clicks made again (nothing selected within {CLICK_WAIT_MS // 1000} s): {tally.clicks_repeated}")


def _print_rss(samples: list[RssSample], rows: int = 20) -> None:
    print("\nserver RSS (the server and its children)")
    step = max(1, len(samples) // rows)
    shown = samples[::step] if samples[-1] in samples[::step] else [*samples[::step], samples[-1]]
    for sample in shown:
        print(f"  {sample.seconds:7.1f} s  {sample.uploads_done:5d} uploads  {sample.rss_mb:8.0f} MB")


async def _drive(url: str, images: list[Path], args: argparse.Namespace, server_pid: int | None) -> None:
    click = not args.no_click
    with tempfile.TemporaryDirectory(prefix="load_dashboard_") as scratch:
        folder = Path(scratch)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(args.chromium), args=LOAD_CHROMIUM_ARGS)
            try:
                warm = Tally()
                await _session(browser, url, _uploads(images, folder, 1, 0, "warm"), tally=warm)
                _print_tally("warm-up (1 upload, not counted)", warm)
                single = Tally()
                single_files = _uploads(images, folder, args.single, 1, "single")
                await _session(browser, url, single_files, tally=single, click=click, fresh_page=True)
                _print_tally(f"single session, {args.single} uploads, each on a fresh page", single)
                sessions = [
                    _uploads(images, folder, args.uploads, s * args.uploads, f"s{s}") for s in range(args.sessions)
                ]
                load = Tally()
                sampler = RssSampler(server_pid, args.rss_interval, load) if server_pid else None
                cpu_before = (cpu_seconds(server_pid) if server_pid else 0.0, cpu_seconds(os.getpid()))
                started = time.perf_counter()
                if sampler:
                    sampler.__enter__()
                try:
                    await asyncio.gather(
                        *(
                            _session(
                                browser,
                                url,
                                files,
                                tally=load,
                                click=click,
                                fresh_page=args.fresh_page,
                                think=partial(random.Random(s).uniform, 0.5 * args.think, 1.5 * args.think),
                            )
                            for s, files in enumerate(sessions)
                        )
                    )
                finally:
                    if sampler:
                        sampler.__exit__()
                elapsed = time.perf_counter() - started
                where = "each upload on a fresh page" if args.fresh_page else "one page per session"
                pause = f"{args.think:g} s ± 50 % after each part" if args.think else "none"
                title = (
                    f"{args.sessions} sessions x {args.uploads} uploads ({where}; think time {pause}), {elapsed:.0f} s"
                )
                _print_tally(title, load)
                server_cpu = cpu_seconds(server_pid) - cpu_before[0] if server_pid else float("nan")
                driver_cpu = cpu_seconds(os.getpid()) - cpu_before[1]
                print(
                    f"  CPU over the run ({os.cpu_count()} cores, {elapsed:.0f} s): server {server_cpu:.0f} s, "
                    f"browsers and this script {driver_cpu:.0f} s"
                )
                if sampler:
                    _print_rss(sampler.samples)
                print(f"\nsingle-session median upload -> verdict: {_summary('', single.uploads).lstrip(': ')}")
            finally:
                await browser.close()


def _settings(args: argparse.Namespace) -> Settings:
    env = dict(os.environ)
    if args.registry:
        env["ANOMALYLENS_REGISTRY"] = str(args.registry)
    if args.data_root:
        env["ANOMALYLENS_DATA_ROOT"] = str(args.data_root)
    return Settings.from_env(env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8, help="concurrent browser sessions (default 8)")
    parser.add_argument("--uploads", type=int, default=50, help="uploads per session (default 50)")
    parser.add_argument("--registry", type=Path, help="registry folder (default: ANOMALYLENS_REGISTRY or models/)")
    parser.add_argument("--data-root", type=Path, help="data root (default: ANOMALYLENS_DATA_ROOT or data/)")
    parser.add_argument("--url", help="a running server to load instead of starting one")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's process id, for its RSS")
    parser.add_argument("--build-sample", action="store_true", help="build a demo-like registry where none is")
    parser.add_argument("--single", type=int, default=10, help="uploads by one session alone first (default 10)")
    parser.add_argument("--rss-interval", type=float, default=2.0, help="seconds between RSS samples (default 2)")
    parser.add_argument("--no-click", action="store_true", help="upload only (e.g. to profile the upload alone)")
    parser.add_argument("--chromium", type=Path, default=CHROMIUM, help=f"the browser to drive (default {CHROMIUM})")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean seconds an inspector spends on a verdict before the next part, drawn uniformly within ±50 %% "
        "(default 0: the next upload at once)",
    )
    parser.add_argument(
        "--fresh-page", action="store_true", help="in the concurrent run, open a fresh Inspect page for every upload"
    )
    args = parser.parse_args(argv)
    for name in ("sessions", "uploads", "single"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.think < 0:
        parser.error(f"--think must be 0 or more seconds, got {args.think}")
    if not args.chromium.exists():
        parser.error(f"{args.chromium} is missing: install it with scripts/ensure_chromium.sh")
    from services.registry.runs import latest_runs

    settings = _settings(args)
    if args.build_sample and not latest_runs(settings):
        from services.cli.demo import DemoSample, build_demo_sample
        from services.similarity.store import close_stores

        build_demo_sample(settings, DemoSample())
        close_stores()  # embedded Qdrant allows one process per folder: hand the store over to the server
    images = _defect_images(settings)
    print(f"registry {settings.registry_dir}: uploading {len(images)} defective test images in turn")
    if args.url:
        asyncio.run(_drive(args.url, images, args, args.server_pid))
        return 0
    with served_app(settings.registry_dir, settings.data_root, "load_dashboard_app.log") as app:
        print(f"server {app.url} (pid {app.pid}, log test-artifacts/browser/load_dashboard_app.log)")
        asyncio.run(_drive(app.url, images, args, app.pid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
