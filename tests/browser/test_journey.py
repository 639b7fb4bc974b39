"""The inspection journey in a real headless Chromium against the running app.

The app runs as a ``streamlit run`` subprocess on the shared tiny registry (PatchCore and EfficientAd on synthetic
``tile``, indexed into its embedded Qdrant store). The browser uploads a defective image, waits for the heatmap,
clicks a defect on the image, waits for its neighbour thumbnails, visits every page and saves screenshots under
``test-artifacts/browser/``. After one warm-up image it times three more (fresh page each): upload to heatmap and
defect click to neighbours, printed to the terminal (even without ``-s``) and written to ``timings.txt``.
"""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

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
from tests.pages.conftest import PageRegistry, page_registry  # noqa: F401  (the indexed registry fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TARGET_S = 2.0
"""The target for upload-to-heatmap and click-to-neighbours with warm models."""
LOOSE_BOUND_S = 5.0
"""What is asserted (medians): a shared 2-core CI machine can be loaded by other tenants, so the 2 s target is
printed beside the figures rather than asserted."""
TIMED_IMAGES = 3


@pytest.fixture(scope="module")
def app_url(page_registry: PageRegistry) -> Iterator[str]:  # noqa: F811
    """The app served on a free localhost port by a subprocess, on the indexed fixture registry."""
    from services.similarity.store import close_stores

    close_stores()  # embedded Qdrant allows one process per folder: hand the store over to the app
    with serve_app(page_registry.registry_dir, page_registry.data_root) as url:
        yield url


def _defect_images(registry: PageRegistry) -> list[Path]:
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
    app_url: str,
    page_registry: PageRegistry,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    require_chromium()
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
        f" (max {max(clicks):.2f}); target {TARGET_S:.0f} s, asserted bound {LOOSE_BOUND_S:.0f} s"
    )
    (ARTIFACTS / "timings.txt").write_text(summary + "\n")
    with capsys.disabled():
        print(f"\n{summary}")
    assert statistics.median(uploads) <= LOOSE_BOUND_S
    assert statistics.median(clicks) <= LOOSE_BOUND_S
