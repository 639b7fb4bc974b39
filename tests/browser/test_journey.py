"""The inspection journey in a real headless Chromium against the running app.

The app runs as a ``streamlit run`` subprocess on a registry built like the demo's (``make run``): both models at the
demo profile's configuration on synthetic ``tile``, indexed into its embedded Qdrant store
(:func:`services.cli.demo.build_demo_sample`), so the timings mean what a user sees. To keep CI short EfficientAd
trains for fewer steps (its serving cost does not depend on them) and PatchCore on a third of the demo's training
images, so its memory bank, which each patch is compared with, has a third of the demo's rows: the summary names
both. The browser uploads a defective image, waits for the heatmap,
clicks a defect on the image, waits for its neighbour thumbnails, visits every page and saves screenshots under
``test-artifacts/browser/``. After one warm-up image it times three more (fresh page each): upload to heatmap and
defect click to neighbours, printed to the terminal (even without ``-s``) with the registry's build time and written
to ``timings.txt``.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from services.data.synthetic import SynthConfig
from services.settings import Settings
from tests.browser.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    click_defect,
    open_inspect,
    require_chromium,
    serve_app,
    upload,
    visit,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UPLOAD_TARGET_S = 1.0
"""The target for upload-to-heatmap with warm models (median, issue #16)."""
CLICK_TARGET_S = 2.0
"""The target for defect click-to-neighbours with warm models (median)."""
LOOSE_BOUND_S = 5.0
"""What is asserted (medians): a shared 2-core CI machine can be loaded by other tenants, so the targets are printed
beside the figures rather than asserted."""
TIMED_IMAGES = 3
CI_TRAIN_IMAGES = 20
"""Normal training images generated for the journey's registry: a third of the demo's (``SynthConfig().n_train``)."""


@dataclass(frozen=True)
class DemoLikeRegistry:
    """A registry built like the demo's, its dataset and how long it took to build."""

    settings: Settings
    dataset_root: Path
    build_s: float
    trained_images: int
    """Normal images the models learned from (the rest of those generated is held out for calibration)."""


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory: pytest.TempPathFactory) -> DemoLikeRegistry:
    """Both models at the demo profile on synthetic ``tile``, indexed (built once for this module)."""
    from services.cli.demo import DEMO_DATASET, DemoSample, build_demo_sample
    from services.similarity.store import close_stores

    require_chromium()
    root = tmp_path_factory.mktemp("demo_like")
    settings = Settings(
        data_root=root / "data", registry_dir=root / "models", weights_dir=root / "models" / "weights", device="cpu"
    )
    started = time.perf_counter()
    runs = build_demo_sample(settings, DemoSample(n_train=CI_TRAIN_IMAGES), progress=lambda _: None)
    build_s = time.perf_counter() - started
    close_stores()  # embedded Qdrant allows one process per folder: hand the store over to the app
    trained = max(run.record.protocol["n_train"] for run in runs)
    return DemoLikeRegistry(settings, settings.data_root / DEMO_DATASET, build_s, trained)


@pytest.fixture(scope="module")
def app_url(demo_like: DemoLikeRegistry) -> Iterator[str]:
    """The app served on a free localhost port by a subprocess, on the demo-like registry."""
    with serve_app(demo_like.settings.registry_dir, demo_like.settings.data_root) as url:
        yield url


def _defect_images(registry: DemoLikeRegistry) -> list[Path]:
    test_dir = registry.dataset_root / "tile" / "test"
    return sorted(path for path in test_dir.glob("*/*.png") if path.parent.name != "good")


def _inspect_one(browser: Browser, url: str, image: Path, screenshots: bool) -> tuple[float, float]:
    """Upload ``image`` on a fresh Inspect page and click one of its defects: both times, in seconds."""
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    page = open_inspect(browser, url)
    try:
        upload_s = upload(page, image)
        wait_idle(page)
        if screenshots:
            page.screenshot(path=str(ARTIFACTS / "inspect_1_heatmap.png"), full_page=True)
        click_s = click_defect(page, digest)
        wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.get_by_text("· sim ").count() >= 1, "the neighbours show their similarity"
        if screenshots:
            page.screenshot(path=str(ARTIFACTS / "inspect_2_neighbours.png"), full_page=True)
            visit(page, "Compare", "compare.png")
            visit(page, "Defect library", "library.png")
            visit(page, "Models", "models.png")
    finally:
        page.close()
    return upload_s, click_s


def test_upload_click_a_defect_see_its_neighbours_and_every_page(
    app_url: str, demo_like: DemoLikeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    warm_up_image, *images = _defect_images(demo_like)[: 1 + TIMED_IMAGES]
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
        f" (max {max(clicks):.2f}); targets {UPLOAD_TARGET_S:g} s and {CLICK_TARGET_S:g} s, asserted bound"
        f" {LOOSE_BOUND_S:g} s;"
        f" demo-profile registry built in {demo_like.build_s:.0f} s, trained on {demo_like.trained_images} normal"
        f" images of {CI_TRAIN_IMAGES} generated (the demo generates {SynthConfig().n_train})"
    )
    (ARTIFACTS / "timings.txt").write_text(summary + "\n")
    with capsys.disabled():
        print(f"\n{summary}")
    assert statistics.median(uploads) <= LOOSE_BOUND_S
    assert statistics.median(clicks) <= LOOSE_BOUND_S
