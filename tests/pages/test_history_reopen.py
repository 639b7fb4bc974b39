"""Inspect with a widened REVIEW band, then History in a fresh session: the stored image scored again by the same run
at the recorded thresholds gives the recorded score, map, regions and verdict; a changed checkpoint is said plainly;
the REVIEW record waits on the Review page, redrawn there, and a false alarm takes it out of the queue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from components.inspect.verdict import BADGES
from services.postprocessing.verdict import Verdict
from services.records.query import RecordFilter
from services.records.record import InspectionRecord, RegionSummary
from services.records.store import RecordStore
from services.settings import get_settings
from tests.pages.conftest import APP, APP_TIMEOUT_S, PageRegistry

pytestmark = pytest.mark.slow


def _records() -> list[InspectionRecord]:
    store = RecordStore(get_settings())
    try:
        return store.query(RecordFilter())
    finally:
        store.close()


def _verdicts(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if m.value.startswith("**Verdict**")]


def test_a_past_inspection_reopens_with_its_recorded_score_map_regions_and_verdict(
    registry_env: PageRegistry, registry_copy: Path, app: AppTest
) -> None:
    """On a copy of the registry: the false alarm marked at the end learns a new PatchCore version there."""
    crack = next((registry_env.dataset_root / "tile" / "test" / "crack").glob("*.png")).read_bytes()
    app.run()
    app.slider(key="review_below").set_value(0.5).run()
    app.slider(key="review_above").set_value(0.5).run()
    app.file_uploader(key="inspect_upload").set_value([("crack.png", crack, "image/png")])
    app.run()
    assert not app.exception
    (first,) = app.session_state["_predictions"].values()
    (record,) = _records()
    assert (record.threshold_lower, record.threshold_upper) == (0.0, 1.0), "the band reaches both ends of the scale"
    assert record.verdict is Verdict.REVIEW and BADGES[Verdict.REVIEW] in _verdicts(app)[0]

    again = AppTest.from_file(APP, default_timeout=APP_TIMEOUT_S)
    again.run()
    again.switch_page("pages/history.py").run()
    again.selectbox(key="history_open").set_value(record.id).run()
    assert not again.exception and not again.warning
    (reopened,) = again.session_state["_predictions"].values()
    assert reopened is not first
    assert abs(reopened.score - record.score) <= 1e-5
    assert np.allclose(reopened.anomaly_map, first.anomaly_map, atol=1e-5)
    judged = reopened.at_threshold(record.threshold_upper, record.threshold_pixel)
    assert tuple(RegionSummary.of(region) for region in judged.regions) == record.regions
    assert BADGES[Verdict.REVIEW] in _verdicts(again)[0]
    assert any(c.value.startswith("Recorded thresholds: OK ≤ 0.00, NG > 1.00, REVIEW between") for c in again.caption)
    assert len(again.get("plotly_chart")) == 2, "the trend chart and the redrawn heatmap"

    changed = replace(record, id="0" * 36, checkpoint_sha256="00" * 32, dedup_key=None)
    store = RecordStore(get_settings())
    store.record([changed])
    store.close()
    again.run()
    again.selectbox(key="history_open").set_value(changed.id).run()
    warnings = [warning.value for warning in again.warning]
    assert any(f"Run {record.run_id} has changed since this inspection" in warning for warning in warnings), warnings
    assert any("000000000000… then" in warning for warning in warnings)
    assert len(again.get("plotly_chart")) == 1, "no heatmap drawn by another model"

    again.switch_page("pages/review.py").run()
    queue = next(frame.value for frame in again.dataframe if "Verdict" in frame.value.columns)
    assert list(queue["Image"]) == ["crack.png", "crack.png"], "the record and its changed-checkpoint copy"
    again.selectbox(key="review_open").set_value(record.id).run()
    assert not again.exception
    assert len(again.get("plotly_chart")) == 1, "the reopened heatmap beside the decision"
    again.radio(key=f"decide__{record.id}__decision").set_value("false_alarm").run()
    again.button(key=f"decide__{record.id}__submit").click().run()
    assert not again.exception
    queue = next(frame.value for frame in again.dataframe if "Verdict" in frame.value.columns)
    assert list(queue["Image"]) == ["crack.png"] and changed.id != record.id
