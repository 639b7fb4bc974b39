"""The record status line: "Recorded", or the database unavailable with where the records went, never a traceback."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.inspect.record_status import LOST, RECORDED, UNAVAILABLE
from services.records.store import RecordStatus


def _status(status: object) -> None:
    from components.inspect import record_status

    record_status.render(status)  # type: ignore[arg-type]


def _run(status: RecordStatus) -> AppTest:
    return AppTest.from_function(_status, args=(status,), default_timeout=60).run()


def test_a_written_record_says_recorded_and_how_many_spooled_ones_went_with_it() -> None:
    app = _run(RecordStatus(written=2, flushed=3))
    assert not app.exception and not app.warning
    assert [caption.value for caption in app.caption] == [
        f":material/database: {RECORDED} · 3 kept locally written now"
    ]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (RecordStatus(spooled=2, error="OperationalError: connection refused"), UNAVAILABLE),
        (RecordStatus(lost=2, error="OperationalError: connection refused; the spool cannot be written either"), LOST),
    ],
)
def test_an_unavailable_database_is_said_with_the_reason(status: RecordStatus, message: str) -> None:
    app = _run(status)
    assert not app.exception
    assert [warning.value for warning in app.warning] == [message]
    assert [caption.value for caption in app.caption] == [f"Why: {status.error}"]
    assert RECORDED not in message
