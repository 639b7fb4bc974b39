"""The Inspect page driven through AppTest: uploads, live threshold, defect selection and neighbours, bad files."""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components.inspect import chart_preload
from components.inspect.record_status import UNAVAILABLE
from services.inference.detector import Prediction
from services.postprocessing.verdict import judge
from services.records.image_store import ImageStore
from services.records.query import RecordFilter
from services.records.record import InspectionRecord
from services.records.spool import Spool
from services.records.store import RecordStore
from services.similarity.index import defect_images
from tests.conftest import TinyRegistry
from tests.pages.conftest import PageRegistry
from tests.services.similarity.store_faults import DAMAGES, held_by_another_process

pytestmark = pytest.mark.slow


def _defect_image(page_registry: PageRegistry) -> bytes:
    return next((page_registry.dataset_root / "tile" / "test" / "crack").glob("*.png")).read_bytes()


def _predictions(app: AppTest) -> dict[tuple[str, str], Prediction]:
    return app.session_state["_predictions"]


def _verdicts(app: AppTest) -> list[str]:
    return [m.value for m in app.markdown if m.value.startswith("**Verdict**")]


def _upload(app: AppTest, *files: tuple[str, bytes]) -> AppTest:
    app.run()
    app.file_uploader(key="inspect_upload").set_value([(name, data, "image/png") for name, data in files])
    return app.run()


def test_before_an_upload_one_hidden_empty_chart_loads_the_chart_code(registry_env: PageRegistry, app: AppTest) -> None:
    app.run()
    assert not app.exception
    (chart,) = app.get("plotly_chart")
    assert json.loads(chart.proto.spec)["data"] == []
    assert any(element.proto.body == chart_preload.HIDE for element in app.get("html"))


def test_upload_shows_score_heatmap_and_timing_for_the_model(registry_env: PageRegistry, app: AppTest) -> None:
    _upload(app, ("part.png", _defect_image(registry_env)))
    assert not app.exception
    scores = [m for m in app.metric if m.label == "Anomaly score"]
    assert len(scores) == 1
    (prediction,) = _predictions(app).values()
    assert scores[0].value == f"{prediction.score:.3f}"
    assert prediction.anomaly_map.shape == (64, 64)
    assert len(app.get("plotly_chart")) == 1
    (timing,) = [caption for caption in app.caption if caption.value.startswith("Score ") and " ms" in caption.value]
    assert re.search(r" ms\) on (openvino|torch) (f32|bf16) \(cpu\)$", timing.value), timing.value
    assert timing.proto.help.startswith("Why this backend and arithmetic: ")


def test_threshold_slider_changes_the_verdict_without_rescoring(registry_env: PageRegistry, app: AppTest) -> None:
    _upload(app, ("part.png", _defect_image(registry_env)))
    (prediction,) = _predictions(app).values()
    app.slider(key="threshold").set_value(0.0).run()
    assert "Anomalous" in _verdicts(app)[0]
    app.slider(key="threshold").set_value(1.0).run()
    assert "Normal" in _verdicts(app)[0]
    (again,) = _predictions(app).values()
    assert again is prediction, "moving the threshold must reuse the stored prediction"


def test_a_session_keeps_only_what_it_computed_for_the_images_on_the_page(
    registry_env: PageRegistry, app: AppTest
) -> None:
    crack = _defect_image(registry_env)
    good = next((registry_env.dataset_root / "tile" / "test" / "good").glob("*.png")).read_bytes()
    _upload(app, ("crack.png", crack))
    app.file_uploader(key="inspect_upload").set_value([("good.png", good, "image/png")]).run()
    assert not app.exception
    kept = {hashlib.sha256(good).hexdigest()}
    assert {key[0] for key in _predictions(app)} == kept, "the removed upload's prediction is forgotten"
    assert set(app.session_state["_decoded"]) == kept
    app.file_uploader(key="inspect_upload").set_value([]).run()
    assert not _predictions(app) and not app.session_state["_decoded"]


def test_both_models_side_by_side_on_one_upload(registry_env: PageRegistry, app: AppTest) -> None:
    app.run()
    app.radio(key="model").set_value("both").run()
    _upload(app, ("part.png", _defect_image(registry_env)))
    assert not app.exception
    assert {prediction.model for prediction in _predictions(app).values()} == {"patchcore", "efficientad"}
    assert len([m for m in app.metric if m.label == "Anomaly score"]) == 2
    assert len(app.get("plotly_chart")) == 2


def test_selecting_a_defect_shows_its_neighbours_and_vote(
    registry_env: PageRegistry, app: AppTest, tiny_registry: TinyRegistry
) -> None:
    sample = sorted((registry_env.dataset_root / "tile" / "test" / "crack").glob("*.png"))[0]
    app.run()
    app.radio(key="inspect_source").set_value("Test-set sample").run()
    app.selectbox(key="inspect_sample").set_value(str(sample)).run()
    (prediction,) = _predictions(app).values()
    app.slider(key="threshold").set_value(round(float(prediction.anomaly_map.max()) * 0.8, 2)).run()
    picker = next(box for box in app.selectbox if str(box.key).startswith("region__patchcore__"))
    assert picker.value is None
    picker.set_value(1).run()
    assert not app.exception
    headings = [m.value for m in app.markdown if m.value.startswith("**Nearest anomalous neighbours**")]
    assert len(headings) == 1
    assert "neighbours" in headings[0] and " of " in headings[0]
    neighbour_captions = [c.value for c in app.caption if "· sim " in c.value]
    assert 1 <= len(neighbour_captions) <= 5
    (library_caption,) = [c.value for c in app.caption if c.value.startswith("Library: ")]
    on_defect_regions = sum(sum(image.on_defect) for image in defect_images(tiny_registry.runs["patchcore"]))
    assert library_caption.split()[1] == str(on_defect_regions)
    assert " known defects of run " in library_caption
    (found,) = app.session_state["_neighbours"].values()
    assert len(found.cases) == len(neighbour_captions)
    assert all(case.payload.image_path != str(sample) for case in found.cases), "its own image is left out"
    assert found.vote.total == len(found.cases)


def test_a_bad_upload_names_the_file_and_the_reason_and_the_good_one_still_runs(
    registry_env: PageRegistry, app: AppTest
) -> None:
    _upload(app, ("broken.png", b"this is not an image"), ("part.png", _defect_image(registry_env)))
    assert not app.exception
    errors = [e.value for e in app.error]
    assert len(errors) == 1
    assert "broken.png" in errors[0] and "not an image" in errors[0] and "accepted: PNG, JPEG, BMP, TIFF" in errors[0]
    assert len([m for m in app.metric if m.label == "Anomaly score"]) == 1


def test_many_uploads_give_a_results_table_with_a_csv_download(registry_env: PageRegistry, app: AppTest) -> None:
    crack = _defect_image(registry_env)
    good = next((registry_env.dataset_root / "tile" / "test" / "good").glob("*.png")).read_bytes()
    _upload(app, ("crack.png", crack), ("good.png", good))
    table = next(frame.value for frame in app.dataframe if "Verdict" in frame.value.columns)
    assert list(table["Image"]) == ["crack.png", "good.png"]
    assert set(table["Verdict"]) <= {"OK", "NG", "REVIEW"}
    assert app.download_button(key="results_csv").label == "Download results (CSV)"
    app.selectbox(key="inspect_image").set_value(hashlib.sha256(good).hexdigest()).run()
    assert any("good.png" in m.value for m in app.markdown if "PatchCore" in m.value)


def _unreachable_server(monkeypatch: pytest.MonkeyPatch, _registry: Path) -> AbstractContextManager[object]:
    monkeypatch.setenv("ANOMALYLENS_QDRANT_URL", "http://127.0.0.1:9")
    return nullcontext()


def _locked_folder(_monkeypatch: pytest.MonkeyPatch, registry: Path) -> AbstractContextManager[object]:
    return held_by_another_process(registry / "qdrant")


def _damaged_folder(_monkeypatch: pytest.MonkeyPatch, registry: Path) -> AbstractContextManager[object]:
    DAMAGES["meta.json cut short"](registry / "qdrant")
    return nullcontext()


STORE_FAULTS = {
    "server unreachable": (_unreachable_server, "Qdrant server at http://127.0.0.1:9 is unreachable"),
    "folder locked by another process": (_locked_folder, "qdrant cannot be opened"),
    "folder damaged": (_damaged_folder, "qdrant is damaged and cannot be read (JSONDecodeError"),
}


@pytest.mark.parametrize("fault", list(STORE_FAULTS))
def test_an_unusable_qdrant_store_keeps_heatmaps_and_verdicts_and_the_panel_says_why(
    registry_env: PageRegistry, registry_copy: Path, app: AppTest, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    from services.settings import get_settings

    make_fault, reason = STORE_FAULTS[fault]
    with make_fault(monkeypatch, registry_copy):
        get_settings.cache_clear()
        _upload(app, ("part.png", _defect_image(registry_env)))
        (prediction,) = _predictions(app).values()
        app.slider(key="threshold").set_value(round(float(prediction.anomaly_map.max()) * 0.8, 2)).run()
        next(box for box in app.selectbox if str(box.key).startswith("region__patchcore__")).set_value(1).run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 1
    assert len(_verdicts(app)) == 1
    (warning,) = [w.value for w in app.warning if w.value.startswith("Similar defects are unavailable")]
    assert reason in warning.replace("\\", "")


def _records() -> list[InspectionRecord]:
    from services.settings import get_settings

    store = RecordStore(get_settings())
    try:
        return store.query(RecordFilter())
    finally:
        store.close()


def test_an_inspection_is_recorded_once_per_image_and_model_and_a_rerun_records_nothing(
    registry_env: PageRegistry, app: AppTest
) -> None:
    from services.settings import get_settings

    crack = _defect_image(registry_env)
    good = next((registry_env.dataset_root / "tile" / "test" / "good").glob("*.png")).read_bytes()
    app.run()
    app.radio(key="model").set_value("both").run()
    app.text_input(key="inspect_part_id").set_value("A1234 / L07").run()
    _upload(app, ("crack.png", crack), ("good.png", good))
    assert not app.exception
    records = _records()
    assert sorted((record.image_name, record.model) for record in records) == [
        ("crack.png", "efficientad"),
        ("crack.png", "patchcore"),
        ("good.png", "efficientad"),
        ("good.png", "patchcore"),
    ]
    predictions = {(digest, run): p for (digest, run, _), p in _predictions(app).items()}
    images = ImageStore(get_settings().records_dir)
    for record in records:
        assert (record.part_id, record.lot_id, record.product, record.operator) == ("A1234", "L07", "tile", None)
        assert images.read(record.image_sha256) in (crack, good)
        assert record.verdict is judge(record.score, record.threshold_lower, record.threshold_upper)
        assert record.threshold_lower == record.threshold_upper
        assert record.score in [p.score for (digest, _), p in predictions.items() if digest == record.image_sha256]
    assert any(caption.value.endswith("Recorded") for caption in app.caption)
    app.run()
    app.selectbox(key="inspect_image").set_value(hashlib.sha256(good).hexdigest()).run()
    assert len(_records()) == 4, "reruns must not record again"
    app.slider(key="threshold").set_value(0.2).run()
    moved = [record for record in _records() if record.threshold_upper == 0.2]
    assert sorted((record.image_name, record.model) for record in moved) == sorted(
        (record.image_name, record.model) for record in records
    )
    assert all(record.false_alarm_budget is None and record.threshold_pixel == 0.2 for record in moved)


def test_an_unavailable_records_database_keeps_the_verdict_and_spools_until_it_is_back(
    registry_env: PageRegistry, app: AppTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.settings import get_settings

    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the database folder should be")
    monkeypatch.setenv("ANOMALYLENS_DATABASE_URL", f"sqlite:///{blocker / 'records.db'}")
    get_settings.cache_clear()
    spool = Spool(get_settings().records_dir)
    try:
        _upload(app, ("part.png", _defect_image(registry_env)))
        assert not app.exception
        assert len([m for m in app.metric if m.label == "Anomaly score"]) == 1
        assert UNAVAILABLE in [w.value for w in app.warning]
        assert len(spool.own_file.read_text().splitlines()) == 1
        blocker.unlink()
        good = next((registry_env.dataset_root / "tile" / "test" / "good").glob("*.png")).read_bytes()
        _upload(app, ("part.png", _defect_image(registry_env)), ("good.png", good))
        assert UNAVAILABLE not in [w.value for w in app.warning]
        assert any(c.value.endswith("Recorded · 1 kept locally written now") for c in app.caption)
        assert sorted(record.image_name for record in _records()) == ["good.png", "part.png"]
        assert not spool.own_file.exists()
    finally:
        spool.own_file.unlink(missing_ok=True)
