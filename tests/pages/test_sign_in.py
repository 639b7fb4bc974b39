"""Sign-in through AppTest (``ANOMALYLENS_SIGN_IN=1``): the form before any page, an operator kept from Train, the
Models page's import and Review (the page refuses, and so does the service with that user), wrong passwords locking
out across sessions, the operator's name on their inspection records, Sign out and the idle timeout."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.shared import page_access, sign_in
from services.access import AccessDeniedError, ActingUser, Role, local_user
from services.inference.model_import import ImportRequest, import_run
from services.jobs import runner
from services.jobs.commands import TrainRequest, start_training
from services.postprocessing.verdict import Verdict
from services.records.query import RecordFilter
from services.records.review import Decision, decide, decisions
from services.records.store import RecordStore
from services.records.users import add_user
from services.settings import get_settings
from tests.pages.conftest import APP, APP_TIMEOUT_S, PageRegistry
from tests.pages.test_history_page import store_records
from tests.services.records.sample_records import sample_record

PASSWORDS = {"olga": "operator-pass", "emil": "engineer-pass", "ada": "admin-pass"}
ROLES = {"olga": "operator", "emil": "engineer", "ada": "admin"}
OPERATOR_PAGES = {"inspect", "compare", "library", "history", "live"}


def _with_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-in on (3 wrong passwords lock out), and an operator, an engineer and an admin in the test's database."""
    monkeypatch.setenv("ANOMALYLENS_SIGN_IN", "1")
    monkeypatch.setenv("ANOMALYLENS_LOCKOUT_ATTEMPTS", "3")
    get_settings.cache_clear()
    store = RecordStore(get_settings())
    try:
        for name, password in PASSWORDS.items():
            add_user(store, name, ROLES[name], password, user=local_user())
    finally:
        store.close()


@pytest.fixture
def users(empty_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty registry with sign-in on and three users."""
    _with_users(monkeypatch)
    return empty_env


@pytest.fixture
def users_with_runs(registry_env: PageRegistry, monkeypatch: pytest.MonkeyPatch) -> PageRegistry:
    """The fixture registry with sign-in on and three users."""
    _with_users(monkeypatch)
    return registry_env


def _sign_in(app: AppTest, name: str, password: str | None = None) -> AppTest:
    app.run()
    app.text_input(key="sign_in_name").input(name)
    app.text_input(key="sign_in_password").input(PASSWORDS.get(name, "") if password is None else password)
    return app.form_submit_button[0].click().run()


def _errors(app: AppTest) -> list[str]:
    return [error.value for error in app.error]


def _notice(app: AppTest) -> str:
    """The notice above the sign-in form."""
    return next(info.value for info in app.info)


def _signed_in(app: AppTest) -> ActingUser | None:
    try:
        return app.session_state[sign_in.USER_KEY]
    except KeyError:
        return None


def test_the_form_comes_before_any_page_even_by_url(users: Path, app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert [title.value for title in app.title] == ["AnomalyLens"]
    assert app.text_input(key="sign_in_name") is not None
    app.switch_page("pages/train.py").run()
    assert [title.value for title in app.title] == ["AnomalyLens"], "the Train page's URL shows the form too"
    assert not [button for button in app.button if button.label == "Start training"]


def test_an_operator_cannot_reach_train_import_or_review_and_the_services_refuse_them_too(
    users_with_runs: PageRegistry, app: AppTest
) -> None:
    _sign_in(app, "olga")
    assert not app.exception
    assert _signed_in(app) == ActingUser("olga", Role.OPERATOR, signed_in=True)
    assert [title.value for title in app.title] == ["Inspect"]
    assert any("Signed in as **olga** (operator)" in caption.value for caption in app.sidebar.caption)
    assert {path for path in page_access.PAGE_ACTIONS if page_access.allowed(_signed_in(app), path)} == OPERATOR_PAGES
    for page, action in (
        ("pages/train.py", "train or cancel training"),
        ("pages/models.py", "import models or datasets"),
        ("pages/review.py", "review inspections"),
    ):
        app.switch_page(page).run()
        assert not app.exception
        refusal = f"olga (operator) may not {action}: that needs the engineer role or higher; ask an admin"
        assert _errors(app) == [refusal]
        assert not app.form_submit_button, f"{page} shows no form to an operator"
    operator, settings = _signed_in(app), get_settings()
    request = TrainRequest(users_with_runs.dataset_root, "tile", "mvtec", ("patchcore",), "demo")
    with pytest.raises(AccessDeniedError, match="olga"):
        start_training(settings, request, user=operator)
    with pytest.raises(AccessDeniedError, match="olga"):
        import_run(ImportRequest(file=Path("model.ckpt"), category="tile"), settings, user=operator)
    record = sample_record(verdict=Verdict.NG)
    store_records(record)
    store = RecordStore(settings)
    try:
        with pytest.raises(AccessDeniedError, match="olga"):
            decide(store, record.id, Decision.FALSE_ALARM, user=operator)
        assert decisions(store) == []
    finally:
        store.close()
    assert runner.list_jobs(settings) == []


def test_wrong_passwords_lock_out_and_a_new_session_finds_the_lock_out(users: Path, app: AppTest) -> None:
    for _ in range(2):
        _sign_in(app, "emil", "guess")
        assert _errors(app) == ["Not signed in: wrong name or password."]
    _sign_in(app, "emil", "guess")
    (locked,) = _errors(app)
    assert locked.startswith("Not signed in: emil is locked out after 3 wrong passwords in a row, until ")
    _sign_in(app, "emil")
    assert _errors(app)[0].startswith("Not signed in: emil is locked out"), "the right password waits too"
    fresh = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    _sign_in(fresh, "emil")
    assert _errors(fresh)[0].startswith("Not signed in: emil is locked out"), "a new browser session is still locked"
    assert _signed_in(fresh) is None
    _sign_in(fresh, "ada")
    assert _signed_in(fresh).name == "ada", "another user signs in as usual"


def test_the_operators_name_is_on_their_inspection_records(users_with_runs: PageRegistry, app: AppTest) -> None:
    _sign_in(app, "OLGA", PASSWORDS["olga"])
    assert app.slider(key="opacity") is not None
    assert "threshold" not in [slider.key for slider in app.slider], "an operator judges at the run's thresholds"
    image = next((users_with_runs.dataset_root / "tile" / "test" / "crack").glob("*.png")).read_bytes()
    app.file_uploader(key="inspect_upload").set_value([("part.png", image, "image/png")])
    app.run()
    assert not app.exception
    store = RecordStore(get_settings())
    try:
        records = store.query(RecordFilter())
    finally:
        store.close()
    assert records and {record.operator for record in records} == {"olga"}


def test_an_engineers_decision_is_recorded_under_their_name_without_a_reviewer_box(users: Path, app: AppTest) -> None:
    record = sample_record(verdict=Verdict.NG, image_name="ng.png")
    store_records(record)
    _sign_in(app, "emil")
    app.switch_page("pages/review.py").run()
    assert not app.exception
    assert "reviewer" not in [box.key for box in app.text_input]
    assert any(caption.value == "Decisions are recorded as emil, who is signed in." for caption in app.caption)
    app.selectbox(key="review_open").set_value(record.id).run()
    app.radio(key=f"decide__{record.id}__decision").set_value(Decision.FALSE_ALARM.value).run()
    app.button(key=f"decide__{record.id}__submit").click().run()
    assert not app.exception
    store = RecordStore(get_settings())
    try:
        assert [(made.record_id, made.reviewer) for made in decisions(store)] == [(record.id, "emil")]
    finally:
        store.close()


def test_sign_out_and_the_idle_timeout_return_to_the_form(users: Path, app: AppTest) -> None:
    _sign_in(app, "ada")
    assert _signed_in(app).role is Role.ADMIN
    app.button(key="sign_out").click().run()
    assert _signed_in(app) is None
    assert _notice(app) == "Signed out."
    _sign_in(app, "ada")
    app.session_state[sign_in.ACTIVE_KEY] = time.time() - 31 * 60
    app.run()
    assert _signed_in(app) is None
    assert _notice(app) == "Signed out after 30 minutes without activity: sign in again."


def test_a_removed_user_is_signed_out_at_their_next_page_run(users: Path, app: AppTest) -> None:
    from services.records.users import remove_user

    _sign_in(app, "emil")
    store = RecordStore(get_settings())
    try:
        remove_user(store, "emil", user=local_user())
    finally:
        store.close()
    app.run()
    assert _signed_in(app) is None
    assert _notice(app) == "Signed out: the user emil no longer exists."
