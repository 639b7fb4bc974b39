"""The Review page through AppTest on hand-made records: the queue, a false alarm leaving it and its undo bringing it
back (each handed to the learning hook), a confirmed defect with a typed type, refusals said plainly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.review.decision_form import NEW_TYPE
from services.postprocessing.verdict import Verdict
from services.records.record import InspectionRecord
from services.records.review import Decision, ReviewDecision, decisions
from services.records.store import RecordStore
from services.settings import get_settings
from tests.pages.test_history_page import store_records
from tests.services.records.sample_records import sample_record

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def queued(empty_env: Path) -> dict[str, InspectionRecord]:
    """An OK, a REVIEW, an NG and a foreign NG record (newest last)."""
    made = {
        "ok": sample_record(recorded_at=NOW - timedelta(minutes=4), verdict=Verdict.OK, image_name="ok.png"),
        "review": sample_record(recorded_at=NOW - timedelta(minutes=3), verdict=Verdict.REVIEW, image_name="rv.png"),
        "ng": sample_record(recorded_at=NOW - timedelta(minutes=2), verdict=Verdict.NG, image_name="<b>ng</b>.png"),
        "foreign": sample_record(
            recorded_at=NOW - timedelta(minutes=1), verdict=Verdict.NG, foreign_part=True, image_name="cat.png"
        ),
    }
    store_records(*made.values())
    return made


@pytest.fixture
def hook_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[ReviewDecision, InspectionRecord]]:
    """Every call of the learning hook."""
    from components.review import learning_hook

    calls: list[tuple[ReviewDecision, InspectionRecord]] = []
    monkeypatch.setattr(learning_hook, "on_decision", lambda decision, record: calls.append((decision, record)))
    return calls


def _queue(app: AppTest) -> list[str]:
    frames = [frame.value for frame in app.dataframe if "Verdict" in frame.value.columns]
    return list(frames[0]["Image"]) if frames else []


def _decisions() -> list[ReviewDecision]:
    store = RecordStore(get_settings())
    try:
        return decisions(store)
    finally:
        store.close()


def _review(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page("pages/review.py").run()


def test_a_false_alarm_leaves_the_queue_and_undo_brings_it_back(
    queued: dict[str, InspectionRecord], app: AppTest, hook_calls: list[tuple[ReviewDecision, InspectionRecord]]
) -> None:
    _review(app)
    assert not app.exception
    assert _queue(app) == ["<b>ng</b>.png", "rv.png"], "REVIEW and NG, newest first, no OK or foreign record"
    assert any(caption.value.startswith("2 records to decide: 1 REVIEW, 1 NG") for caption in app.caption)
    ng = queued["ng"]
    app.selectbox(key="review_open").set_value(ng.id).run()
    app.text_input(key="reviewer").set_value("ana").run()
    app.radio(key=f"decide__{ng.id}__decision").set_value(Decision.FALSE_ALARM.value).run()
    app.text_area(key=f"decide__{ng.id}__note").set_value("glare").run()
    app.button(key=f"decide__{ng.id}__submit").click().run()
    assert not app.exception
    assert _queue(app) == ["rv.png"]
    (made,) = _decisions()
    assert (made.record_id, made.decision, made.defect_type, made.note, made.reviewer) == (
        ng.id,
        Decision.FALSE_ALARM,
        None,
        "glare",
        "ana",
    )
    assert [success.value for success in app.success] == [
        r"Recorded false alarm on \<b\>ng\</b\>.png by ana; it left the queue (undo it under Recent decisions)."
    ]
    assert hook_calls == [(made, ng)]
    app.button(key=f"undo__{made.id}").click().run()
    assert not app.exception
    assert _queue(app) == ["<b>ng</b>.png", "rv.png"]
    (undone,) = _decisions()
    assert undone.undone_by == "ana" and not undone.standing
    assert hook_calls[1] == (undone, ng)
    assert any(caption.value.startswith("undone by ana at ") for caption in app.caption)


def test_a_confirmed_defect_takes_a_typed_type_and_a_missing_one_is_refused(
    queued: dict[str, InspectionRecord], app: AppTest, hook_calls: list[tuple[ReviewDecision, InspectionRecord]]
) -> None:
    _review(app)
    review = queued["review"]
    app.selectbox(key="review_open").set_value(review.id).run()
    app.radio(key=f"decide__{review.id}__decision").set_value(Decision.DEFECT.value).run()
    app.button(key=f"decide__{review.id}__submit").click().run()
    assert [error.value for error in app.error] == ["Not recorded: the defect type is empty: give 1 to 64 characters."]
    assert _decisions() == [] and hook_calls == []
    app.text_input(key=f"decide__{review.id}__new_type").set_value("scratch").run()
    app.button(key=f"decide__{review.id}__submit").click().run()
    (made,) = _decisions()
    assert (made.decision, made.defect_type, made.reviewer) == (Decision.DEFECT, "scratch", get_settings().station)
    assert _queue(app) == ["<b>ng</b>.png"]
    ng = queued["ng"]
    app.selectbox(key="review_open").set_value(ng.id).run()
    app.radio(key=f"decide__{ng.id}__decision").set_value(Decision.DEFECT.value).run()
    assert app.selectbox(key=f"decide__{ng.id}__type").options == ["scratch", NEW_TYPE], "a confirmed type is offered"


def test_an_empty_queue_says_nothing_waits(empty_env: Path, app: AppTest) -> None:
    _review(app)
    assert not app.exception
    assert any("Nothing waits for review" in success.value for success in app.success)
    assert any(caption.value == "No decision yet." for caption in app.caption)


def test_a_decision_the_database_does_not_take_is_said_plainly_and_nothing_is_recorded(
    queued: dict[str, InspectionRecord],
    app: AppTest,
    hook_calls: list[tuple[ReviewDecision, InspectionRecord]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _review(app)
    ng = queued["ng"]
    app.selectbox(key="review_open").set_value(ng.id).run()
    app.radio(key=f"decide__{ng.id}__decision").set_value(Decision.FALSE_ALARM.value).run()
    database = get_settings().database_url
    monkeypatch.setenv("ANOMALYLENS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/records")  # nothing there
    get_settings.cache_clear()
    app.button(key=f"decide__{ng.id}__submit").click().run()
    assert not app.exception
    assert app.error[0].value == (
        "Not recorded: the records database is unavailable (OperationalError), and decisions are not kept locally; "
        "record the decision again once it is back."
    )
    assert hook_calls == []
    monkeypatch.setenv("ANOMALYLENS_DATABASE_URL", database)
    get_settings.cache_clear()
    app.run()
    assert not app.error
    assert _decisions() == []
    assert _queue(app) == ["<b>ng</b>.png", "rv.png"], "the record still waits for its decision"
