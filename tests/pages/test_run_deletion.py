"""Deleting a run on the Models page: offered where the user may (the local user where sign-in is off, an admin), not
to an engineer; the run leaves the registry and the sidebar, its vectors the index."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.access import local_user
from services.records.store import RecordStore
from services.records.users import add_user
from services.registry.runs import list_runs
from services.settings import get_settings
from services.similarity.store import SearchFilters

pytestmark = pytest.mark.slow


def _models(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page("pages/models.py").run()


def test_the_local_user_deletes_a_run_and_its_vectors(registry_copy: Path, app: AppTest) -> None:
    from components.shared import resources

    settings = get_settings()
    (doomed,) = [run for run in list_runs(settings) if run.record.model == "efficientad"]
    run_id = doomed.relative_to(settings.registry_dir)
    _models(app)
    assert not app.exception
    assert app.button(key="delete_run_button").disabled, "disabled until a run is picked and confirmed"
    app.selectbox(key="delete_run").set_value(run_id).run()
    app.checkbox(key="delete_run_confirm").check().run()
    app.button(key="delete_run_button").click().run()
    assert not app.exception
    (done,) = [message.value for message in app.success if message.value.startswith("Deleted run")]
    assert done.startswith(f"Deleted run {run_id} and its ")
    assert [run.record.model for run in list_runs(settings)] == ["patchcore"]
    record = doomed.record
    filters = SearchFilters(dataset=record.dataset, model=record.model, category=record.category, run=record.run)
    assert resources.store().count(filters) == 0
    resources.release_store()


def test_an_engineer_is_not_offered_to_delete_a_run(
    registry_env: object, app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANOMALYLENS_SIGN_IN", "1")
    get_settings.cache_clear()
    store = RecordStore(get_settings())
    add_user(store, "emil", "engineer", "engineer-pass", user=local_user())
    store.close()
    app.run()
    app.text_input(key="sign_in_name").input("emil")
    app.text_input(key="sign_in_password").input("engineer-pass")
    app.form_submit_button[0].click().run()
    app.switch_page("pages/models.py").run()
    assert not app.exception
    assert [title.value for title in app.title] == ["Models"]
    assert "delete_run_button" not in [button.key for button in app.button]
