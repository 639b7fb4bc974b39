"""Signing in with a real headless Chromium (``ANOMALYLENS_SIGN_IN=1``) against the running app on the shared tiny
registry: the form first, wrong passwords locking a user out, an operator's menu without Train, Models and Review,
the Train page's URL refusing the operator once signed in, and Sign out. Screenshots go to ``test-artifacts/browser/``
(``sign_in_*.png``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from services.access import local_user
from services.records.store import RecordStore
from services.records.users import add_user
from services.settings import Settings
from tests.browser.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    STEP_TIMEOUT_MS,
    VIEWPORT,
    require_chromium,
    serve_app,
    wait_idle,
)
from tests.pages.conftest import PageRegistry, page_registry  # noqa: F401  (the indexed registry fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

USERS = {"olga": ("operator", "operator-pass"), "emil": ("engineer", "engineer-pass")}


@pytest.fixture
def app_url(
    page_registry: PageRegistry,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The app with sign-in on (3 wrong passwords lock out), its users in a records database of this test's own."""
    from services.similarity.store import close_stores

    database = f"sqlite:///{tmp_path / 'records.db'}"
    store = RecordStore(Settings(registry_dir=tmp_path / "models", database_url=database))
    for name, (role, password) in USERS.items():
        add_user(store, name, role, password, user=local_user())
    store.close()
    for variable, value in {"SIGN_IN": "1", "LOCKOUT_ATTEMPTS": "3", "DATABASE_URL": database}.items():
        monkeypatch.setenv(f"ANOMALYLENS_{variable}", value)
    close_stores()  # embedded Qdrant allows one process per folder: hand the store over to the app
    with serve_app(page_registry.registry_dir, page_registry.data_root, "sign_in_app.log") as url:
        yield url


def _submit(page: Page, name: str, password: str) -> None:
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)


def _menu(page: Page) -> list[str]:
    links = page.locator("[data-testid='stSidebarNav'] a")
    links.first.wait_for(timeout=STEP_TIMEOUT_MS)
    return [text.strip().splitlines()[-1] for text in links.all_inner_texts()]  # each link: its icon's name, title


def test_sign_in_lock_out_an_operators_menu_a_refused_url_and_sign_out(app_url: str) -> None:
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(app_url)
            page.get_by_role("button", name="Sign in").wait_for(timeout=STEP_TIMEOUT_MS)
            wait_idle(page)
            assert page.locator("[data-testid='stSidebarNav']").count() == 0, "no page before signing in"
            page.screenshot(path=str(ARTIFACTS / "sign_in_1_form.png"), full_page=True)
            for _ in range(3):
                _submit(page, "emil", "guess")
            page.get_by_text("emil is locked out after 3 wrong passwords in a row").wait_for(timeout=STEP_TIMEOUT_MS)
            _submit(page, "emil", USERS["emil"][1])
            page.get_by_text("emil is locked out").wait_for(timeout=STEP_TIMEOUT_MS)
            page.screenshot(path=str(ARTIFACTS / "sign_in_2_locked_out.png"), full_page=True)

            _submit(page, "olga", USERS["olga"][1])
            page.get_by_role("heading", name="Inspect").first.wait_for(timeout=STEP_TIMEOUT_MS)
            menu = _menu(page)
            assert {"Inspect", "Compare", "Defect library", "History", "Live"} <= set(menu)
            assert not {"Train", "Models", "Review"} & set(menu), menu
            page.get_by_text("Signed in as").wait_for(timeout=STEP_TIMEOUT_MS)
            assert page.locator(".st-key-threshold").count() == 0, "an operator has no threshold slider"

            page.goto(f"{app_url}/train")  # a new browser session: the form first, then the bookmarked page
            _submit(page, "olga", USERS["olga"][1])
            refusal = "olga (operator) may not train or cancel training: that needs the engineer role or higher"
            page.get_by_text(refusal).wait_for(timeout=STEP_TIMEOUT_MS)
            assert page.get_by_role("button", name="Start training").count() == 0
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=str(ARTIFACTS / "sign_in_3_operator_refused.png"), full_page=True)

            page.get_by_role("button", name="Sign out").click()
            page.get_by_text("Signed out.").wait_for(timeout=STEP_TIMEOUT_MS)
            page.get_by_role("button", name="Sign in").wait_for(timeout=STEP_TIMEOUT_MS)
            assert page.locator("[data-testid='stSidebarNav']").count() == 0, "no page after signing out"
        finally:
            browser.close()
