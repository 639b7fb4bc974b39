"""The false-alarm budget through AppTest: set on the Models page with each run's evidence, applied by Inspect."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.inspect.budget_note import evidence_line
from components.models.calibration_table import LINE_COLUMN
from components.shared.false_alarm_budget import BUDGET_KEY, INPUT_KEY
from services.access import local_user
from services.postprocessing.verdict import Verdict
from services.records.review import Decision, decide
from services.records.store import RecordStore
from services.registry.run_calibration import RunCalibration, rate_text, run_calibration, too_few_text
from services.registry.runs import list_runs
from services.settings import get_settings
from tests.pages.conftest import PageRegistry
from tests.services.records.sample_records import sample_record

pytestmark = pytest.mark.slow


def _calibrations(budget: float) -> dict[str, RunCalibration]:
    judged = {run.record.model: run_calibration(run, budget) for run in list_runs(get_settings())}
    assert all(judged.values()), "the fixture runs are trained on the branch: they hold their normal scores"
    return judged  # type: ignore[return-value]


def _calibration_table(app: AppTest) -> dict[str, dict[str, str]]:
    table = next(frame.value for frame in app.dataframe if "Budget" in frame.value.columns)
    return {row["Run"].split(" · ")[1]: row for row in table.to_dict("records")}


def test_models_budget_input_refits_every_runs_evidence_and_is_kept_for_inspect(
    registry_env: PageRegistry, app: AppTest
) -> None:
    app.run()
    app.switch_page("pages/models.py").run()
    assert not app.exception
    assert app.number_input(key=INPUT_KEY).value == pytest.approx(100 * get_settings().false_alarm_budget)
    rows = _calibration_table(app)
    at_default = _calibrations(get_settings().false_alarm_budget)
    assert rows["PatchCore"]["Budget"] == "1 %"
    assert rows["PatchCore"]["False alarms (image)"] == rate_text(at_default["patchcore"].calibration.image)
    assert rows["EfficientAd"]["Normal images"].startswith(f"{at_default['efficientad'].calibration.image.n_normals} (")
    app.number_input(key=INPUT_KEY).set_value(20.0).run()
    assert app.session_state[BUDGET_KEY] == pytest.approx(0.2)
    rows, loose = _calibration_table(app), _calibrations(0.2)
    assert rows["PatchCore"]["Budget"] == "20 %"
    assert rows["PatchCore"]["False alarms (image)"] == rate_text(loose["patchcore"].calibration.image)
    app.switch_page("pages/inspect.py").run()
    app.switch_page("pages/models.py").run()
    assert app.number_input(key=INPUT_KEY).value == pytest.approx(20.0), "the budget outlives a page change"


def test_models_warns_when_a_runs_normals_are_too_few_for_the_budget(registry_env: PageRegistry, app: AppTest) -> None:
    app.session_state[BUDGET_KEY] = 0.001
    app.run()
    app.switch_page("pages/models.py").run()
    strict = _calibrations(0.001)["patchcore"].calibration.image
    assert not strict.enough_normals, "a 0.1 % budget needs 999 normals; the tiny registry has far fewer"
    warnings = [warning.value for warning in app.warning]
    assert any(warning.endswith(too_few_text(strict)) for warning in warnings), warnings


def _upload_defect(app: AppTest, registry: PageRegistry) -> None:
    image = next((registry.dataset_root / "tile" / "test" / "crack").glob("*.png")).read_bytes()
    app.run()
    app.file_uploader(key="inspect_upload").set_value([("part.png", image, "image/png")])
    app.run()


def test_inspect_judges_at_the_budgets_thresholds_with_its_evidence_until_the_slider_moves(
    registry_env: PageRegistry, app: AppTest
) -> None:
    app.session_state[BUDGET_KEY] = 0.2
    _upload_defect(app, registry_env)
    assert not app.exception
    judged = _calibrations(0.2)["patchcore"]
    (score,) = (metric for metric in app.metric if metric.label == "Anomaly score")
    threshold = f"{judged.image_threshold:.2f}"
    assert score.proto.help.startswith(f"OK at or below {threshold}, NG above {threshold}")
    (line,) = (caption for caption in app.caption if caption.value.startswith("Threshold for a "))
    assert line.value == evidence_line(judged, 0.2)
    assert "20 % false-alarm budget · rests on " in line.value and "evidence supports ≤ " in line.value
    assert line.proto.help.startswith("Rule: the conformal quantile")
    app.session_state[BUDGET_KEY] = 0.001
    app.run()
    strict = _calibrations(0.001)["patchcore"].calibration.image
    assert [warning.value for warning in app.warning] == [too_few_text(strict)]
    app.slider(key="threshold").set_value(0.3).run()
    assert not [caption for caption in app.caption if caption.value.startswith("Threshold for a ")]
    assert any(
        caption.value.startswith("Manual threshold 0.30 (image and pixel): the 0.1 % false-alarm budget no longer")
        for caption in app.caption
    )
    assert not app.warning
    assert app.metric[0].proto.help.startswith("OK at or below 0.30, NG above 0.30")


def test_models_shows_the_line_and_warns_when_marked_false_alarms_break_the_promise(
    registry_env: PageRegistry, app: AppTest
) -> None:
    settings = get_settings()
    run = next(run for run in list_runs(settings) if run.record.model == "patchcore")
    store = RecordStore(settings)
    judged = [
        sample_record(run_id=run.relative_to(settings.registry_dir), image_sha256=f"{i:064x}", verdict=Verdict.NG)
        for i in range(10)
    ]
    assert store.record(judged).written == 10
    for record in judged:
        decide(store, record.id, Decision.FALSE_ALARM, user=local_user("ana"))
    store.close()
    app.run()
    app.switch_page("pages/models.py").run()
    assert not app.exception
    rows = _calibration_table(app)
    # Clopper–Pearson lower end of 10 of 10: 0.025^(1/10) ≈ 0.69
    assert rows["PatchCore"][LINE_COLUMN] == "10 of 10 parts marked false alarms (at least 69 %)"
    assert rows["EfficientAd"][LINE_COLUMN] == "no part judged at this budget yet"
    promise = _calibrations(settings.false_alarm_budget)["patchcore"].calibration.image
    assert promise.interval[1] < 0.69, "the fixture's normals promise less than the line shows"
    warnings = [warning.value for warning in app.warning]
    broken = [warning for warning in warnings if "on the line 10 of 10 parts" in warning]
    assert len(broken) == 1 and f"({rate_text(promise)})" in broken[0] and "Review page" in broken[0], warnings
