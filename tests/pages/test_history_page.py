"""The History page through AppTest on hand-made records: filters and their row counts, foreign parts, downloads,
the chart, and a record whose run is gone (said plainly, the stored image still shown)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from components.history import record_filters
from components.shared.style import plain_text
from services.postprocessing.verdict import Verdict
from services.records.record import NOT_THIS_PRODUCT, InspectionRecord
from services.records.store import RecordStore
from services.settings import get_settings
from tests.services.records.sample_records import sample_record

NOW = datetime.now(UTC).replace(microsecond=0)


def png_bytes(seed: int = 0) -> bytes:
    """A small PNG of seeded noise."""
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def store_records(*records: InspectionRecord, images: dict[str, bytes] | None = None) -> None:
    """Write records (and image bytes) into the test's database."""
    store = RecordStore(get_settings())
    try:
        assert store.record(list(records), images).written == len(records)
    finally:
        store.close()


def made_records() -> dict[str, InspectionRecord]:
    """Five records in the last hours: tile OK, NG, REVIEW and a foreign NG by PatchCore; leather NG by EfficientAd
    in lot L2 (newest)."""
    return {
        "ok": sample_record(recorded_at=NOW - timedelta(hours=5), verdict=Verdict.OK, image_name="ok.png"),
        "ng": sample_record(recorded_at=NOW - timedelta(hours=4), verdict=Verdict.NG, image_name="ng.png"),
        "review": sample_record(recorded_at=NOW - timedelta(hours=3), verdict=Verdict.REVIEW, image_name="rv.png"),
        "foreign": sample_record(
            recorded_at=NOW - timedelta(hours=2), verdict=Verdict.NG, foreign_part=True, image_name="cat.png"
        ),
        "leather": sample_record(
            recorded_at=NOW - timedelta(minutes=30),
            product="leather",
            model="efficientad",
            lot_id="L2",
            image_name="hide.png",
        ),
    }


def _table(app: AppTest) -> object:
    return next(frame.value for frame in app.dataframe if "Verdict" in frame.value.columns)


def _history(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page("pages/history.py").run()


def test_filters_narrow_the_table_and_the_counts_exactly(empty_env: Path, app: AppTest) -> None:
    store_records(*made_records().values())
    _history(app)
    assert not app.exception and not app.error
    assert list(_table(app)["Image"]) == ["hide.png", "cat.png", "rv.png", "ng.png", "ok.png"]
    assert list(_table(app)["Verdict"]) == ["NG", NOT_THIS_PRODUCT, "REVIEW", "NG", "OK"]
    assert "Showing 5 matching records, newest first." in [caption.value for caption in app.caption]
    assert app.selectbox(key="history_product").options == ["All", "leather", "tile"]
    assert app.selectbox(key="history_lot").options == ["All", "L07", "L2"]
    app.selectbox(key="history_product").set_value("tile").run()
    assert list(_table(app)["Image"]) == ["cat.png", "rv.png", "ng.png", "ok.png"]
    app.selectbox(key="history_verdict").set_value("NG").run()
    assert list(_table(app)["Image"]) == ["ng.png"], "a foreign part is not counted as NG"
    app.selectbox(key="history_verdict").set_value(NOT_THIS_PRODUCT).run()
    assert list(_table(app)["Image"]) == ["cat.png"]
    app.selectbox(key="history_product").set_value("All").run()
    app.selectbox(key="history_verdict").set_value("All").run()
    app.selectbox(key="history_lot").set_value("L2").run()
    assert list(_table(app)["Image"]) == ["hide.png"]
    app.selectbox(key="history_lot").set_value("All").run()
    app.selectbox(key="history_model").set_value("efficientad").run()
    assert list(_table(app)["Model"]) == ["EfficientAd"]
    app.selectbox(key="history_model").set_value("All").run()
    app.selectbox(key="history_range").set_value("Last hour").run()
    assert list(_table(app)["Image"]) == ["hide.png"]
    app.selectbox(key="history_limit").set_value(100).run()
    assert not app.exception


def test_the_chart_and_both_downloads_cover_the_filtered_records(empty_env: Path, app: AppTest) -> None:
    made = made_records()
    store_records(*made.values())
    _history(app)
    app.selectbox(key="history_product").set_value("tile").run()
    (chart,) = [chart for chart in app.get("plotly_chart") if chart.proto.id and "history_trend" in chart.proto.id]
    figure = json.loads(chart.proto.spec)
    review_bar, ng_line = figure["data"]
    assert sum(value for value in review_bar["y"] if value) == 1
    assert [value for value in ng_line["y"] if value is not None] == [0.0, 100.0, 0.0]
    assert "per hour" in figure["layout"]["title"]["text"]
    assert app.download_button(key="history_csv").label == "Download CSV"
    assert app.download_button(key="history_json").label == "Download JSON"


def test_a_record_whose_run_is_gone_says_so_and_shows_its_stored_image(empty_env: Path, app: AppTest) -> None:
    data = png_bytes()
    record = sample_record(recorded_at=NOW, image_sha256=hashlib.sha256(data).hexdigest())
    store_records(record, images={record.image_sha256: data})
    _history(app)
    app.selectbox(key="history_open").set_value(record.id).run()
    assert not app.exception
    warnings = [warning.value for warning in app.warning]
    assert any(f"Run {record.run_id} is no longer in the registry" in warning for warning in warnings), warnings
    values = next(frame.value for frame in app.dataframe if "Field" in frame.value.columns)
    assert dict(zip(values["Field"], values["Value"], strict=True))["Verdict"] == "NG"
    assert len(app.get("image")) == 1


def test_nothing_recorded_yet_says_where_records_come_from(empty_env: Path, app: AppTest) -> None:
    _history(app)
    assert not app.exception
    assert any("No inspection record matches" in info.value for info in app.info)


def test_a_range_of_dates_keeps_the_records_of_those_utc_days(empty_env: Path, app: AppTest) -> None:
    store_records(*made_records().values())
    _history(app)
    app.selectbox(key="history_range").set_value(record_filters.DATES).run()
    app.date_input(key="history_dates").set_value((NOW.date() - timedelta(days=1), NOW.date())).run()
    assert len(_table(app)) == 5
    app.date_input(key="history_dates").set_value((date(2020, 1, 1), date(2020, 1, 2))).run()
    assert not app.exception
    assert any("No inspection record matches" in info.value for info in app.info)


@pytest.mark.parametrize("page", ["pages/history.py", "pages/review.py"])
def test_an_unreadable_records_database_is_said_without_a_traceback(
    empty_env: Path, app: AppTest, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    blocker = empty_env / "blocked"
    blocker.write_text("a file where the database folder should be")
    monkeypatch.setenv("ANOMALYLENS_DATABASE_URL", f"sqlite:///{blocker / 'records.db'}")
    get_settings.cache_clear()
    app.run()
    app.switch_page(page).run()
    assert not app.exception
    (error,) = [error.value for error in app.error]
    where = plain_text(f"sqlite:///{blocker}/records.db")
    assert error.startswith(f"The records database {where} cannot be read: "), error
    assert "kept locally and written when it is back" in error
